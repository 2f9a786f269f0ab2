"""The Ollama `Modelfile` for a published GGUF (Book §9.5 step 4): ChatML template,
temperature 0.7, top_p 0.9, stopping at the ChatML turn markers.
"""

from __future__ import annotations

from dataclasses import dataclass

CHATML_TEMPLATE = (
    "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
    "<|im_start|>assistant\n"
)


@dataclass(frozen=True)
class Modelfile:
    gguf_name: str  # the FROM file, beside the Modelfile
    template: str = CHATML_TEMPLATE
    temperature: float = 0.7
    top_p: float = 0.9
    stop: tuple[str, ...] = ("<|im_start|>", "<|im_end|>")
    system: str | None = None

    def parameters(self) -> dict[str, object]:
        """As Ollama's create API takes them."""
        return {"temperature": self.temperature, "top_p": self.top_p, "stop": list(self.stop)}

    def render(self) -> str:
        lines = [f"FROM ./{self.gguf_name}", f'TEMPLATE """{self.template}"""']
        lines += [f"PARAMETER temperature {self.temperature:g}", f"PARAMETER top_p {self.top_p:g}"]
        lines += [f'PARAMETER stop "{s}"' for s in self.stop]
        if self.system:
            lines.append(f'SYSTEM """{self.system}"""')
        return "\n".join(lines) + "\n"

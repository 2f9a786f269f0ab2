"""The prompts of hidden checks: drawn from a pool generated, not listed, so it is large
and changes with each draw, and looks like what clients send.

A request is built from a task (question, rewrite, summary, list, code, chat with
history, ...), a subject and a style, with context text of varied length; its
parameters are drawn as clients set them (greedy or sampled at various temperatures,
top-p, a length limit from a few tokens to a few hundred, sometimes a seed or a system
message). With tens of tasks, hundreds of subjects and free context the pool holds
billions of requests, so a node cannot learn it; operators see which check failed and
why, never the pool (it lives in this process, drawn from a secret random source).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from infernet.protocol.wire import ChatMessageIn

_SUBJECTS = (
    "tide pools, sourdough starters, the history of the bicycle, solar panels on flat roofs, "
    "training a puppy, compound interest, the water cycle, learning a second language, "
    "container gardening, how vaccines work, chess openings, the Roman aqueducts, "
    "remote work, electric cars in winter, baking bread at altitude, volcanoes, "
    "password managers, migrating birds, the printing press, saving for retirement, "
    "writing a cover letter, jazz improvisation, coral reefs, time zones, knitting socks, "
    "the stock market, photosynthesis, running a first marathon, public libraries, "
    "recycling plastics, black holes, a weekly meal plan, the French Revolution, "
    "home insulation, sleep hygiene, beekeeping, the metric system, climbing gear, "
    "a small business budget, octopus intelligence, desert ecosystems, wind turbines, "
    "learning to swim, Renaissance painting, caring for houseplants, the moon landing, "
    "board game design, tea ceremonies, urban cycling, rainwater harvesting, "
    "the immune system, writing a haiku, earthquakes, a job interview, fermentation"
)
SUBJECTS = tuple(_SUBJECTS.split(", "))
TASKS = (
    "Explain {s} to a curious teenager.",
    "Give me three practical tips about {s}.",
    "Write a short paragraph about {s}.",
    "What are the most common mistakes people make with {s}?",
    "Summarize what someone should know about {s} in two sentences.",
    "List five facts about {s}.",
    "Write a friendly email to a colleague about {s}.",
    "Compare two different approaches to {s}.",
    "Write a Python function related to {s} and explain it briefly.",
    "I'm confused about {s}. Can you help?",
    "Write a haiku about {s}.",
    "What questions should I ask an expert on {s}?",
    "Give a step-by-step plan for getting started with {s}.",
    "Tell a very short story that involves {s}.",
    "Is it true that {s} is harder than it looks? Why?",
    "Rewrite this more clearly: {c}",
    "Summarize the following notes: {c}",
    "Answer briefly, based on this: {c} What is the main point?",
)
STYLES = ("", " Keep it short.", " Be concise.", " Use simple words.", " Answer in a list.")
SYSTEMS = ("You are a helpful assistant.", "You are a concise expert.", "Answer politely.")
_WORDS = (
    "the plan changed after the meeting because the team needed more time to test the new "
    "design and several customers asked for a simpler option that would work on older "
    "devices while the budget stayed the same so we moved two people from support"
)
WORDS = tuple(_WORDS.split())


@dataclass(frozen=True, slots=True)
class HiddenRequest:
    messages: list[ChatMessageIn]
    max_tokens: int
    temperature: float
    top_p: float
    seed: int | None


def _context(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 120))]
    return " ".join(words).capitalize() + "."


def _parameters(rng: random.Random) -> tuple[int, float, float, int | None]:
    max_tokens = int(2 ** rng.uniform(4, 8))  # 16 .. 256, most of them short
    temperature = 0.0 if rng.random() < 0.4 else round(rng.uniform(0.2, 1.0), 2)
    top_p = rng.choice((1.0, 1.0, 0.95, 0.9))
    seed = rng.randrange(1, 2**31) if rng.random() < 0.2 else None
    return max_tokens, temperature, top_p, seed


def draw(rng: random.Random) -> HiddenRequest:
    """One request of the pool."""
    subject = rng.choice(SUBJECTS)
    text = rng.choice(TASKS).format(s=subject, c=_context(rng)) + rng.choice(STYLES)
    messages = [ChatMessageIn(role="user", content=text)]
    if rng.random() < 0.25:
        history = [
            ChatMessageIn(role="user", content=f"Hi! Quick question about {rng.choice(SUBJECTS)}."),
            ChatMessageIn(role="assistant", content="Sure, what would you like to know?"),
        ]
        messages = history + messages
    if rng.random() < 0.3:
        messages = [ChatMessageIn(role="system", content=rng.choice(SYSTEMS)), *messages]
    return HiddenRequest(messages, *_parameters(rng))

"""The dashboard's HTML forms and its chat request (controlplane/dashboard/)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from infernet.protocol.wire import CommandType


class SignUpForm(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=10, max_length=200)
    invite: str = ""

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip().lower()
        local, _, domain = value.partition("@")
        if not local or "." not in domain or " " in value:
            raise ValueError("Enter an email address like you@example.com.")
        return value

    @field_validator("password")
    @classmethod
    def _password(cls, value: str) -> str:
        if value.strip() != value or not value:
            raise ValueError("The password must not start or end with spaces.")
        return value


class SignInForm(BaseModel):
    email: str = ""
    password: str = ""
    api_key: str = ""


class ChatTurn(BaseModel):
    role: str = Field(pattern="^(user|assistant|system)$")
    content: str = Field(max_length=100_000)


class ChatRequest(BaseModel):
    model: str = Field(min_length=1, max_length=300)
    messages: list[ChatTurn] = Field(min_length=1, max_length=100)
    max_tokens: int = Field(default=256, ge=1, le=4096)


class PriceForm(BaseModel):
    node_id: str = Field(min_length=1)
    model: str = Field(min_length=1, max_length=300)
    input_per_1k: str = Field(min_length=1)
    output_per_1k: str = Field(min_length=1)


class DepositForm(BaseModel):
    amount: str = Field(min_length=1, max_length=40)


class CommandForm(BaseModel):
    type: CommandType
    model: str = Field(min_length=1, max_length=300)


class KeyForm(BaseModel):
    name: str = Field(default="", max_length=200)


class PayoutForm(BaseModel):
    network: str = Field(min_length=1)
    address: str = Field(min_length=1, max_length=100)


class WebhookForm(BaseModel):
    kind: str = Field(min_length=1)
    url: str = Field(min_length=1, max_length=500)

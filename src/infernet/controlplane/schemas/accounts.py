"""Client accounts and API keys as the API shows them. A key's secret appears only in
`KeyCreated`, once; afterwards a key is known by its id and its first characters."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class KeyLimits(BaseModel):
    requests_per_minute: int
    requests_per_hour: int


class SignupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="A name for the account.")
    invite_code: str | None = Field(
        default=None,
        max_length=100,
        description="Needed when the control plane admits accounts by invite only.",
    )


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=200)
    requests_per_minute: int | None = Field(
        default=None, ge=1, description="Default: the control plane's (60)."
    )
    requests_per_hour: int | None = Field(
        default=None, ge=1, description="Default: the control plane's (1,000)."
    )


class KeyPublic(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it by.")
    created_at: str
    last_used_at: str | None = Field(description="Recorded to the minute.")
    revoked: bool
    revoked_at: str | None
    limits: KeyLimits


class KeyCreated(KeyPublic):
    key: str = Field(description="The API key itself: shown this once, never again.")


class KeyList(BaseModel):
    keys: list[KeyPublic]


class AccountPublic(BaseModel):
    id: str
    name: str
    created_at: str


class Me(AccountPublic):
    key: KeyPublic = Field(description="The API key this request was made with.")


class SignupResponse(BaseModel):
    account: AccountPublic
    api_key: KeyCreated

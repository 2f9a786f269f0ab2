"""Money as both sides compute it: USDC amounts, per-1K-token prices, a job's value, the fee.

Everything is `Decimal`, never float. USDC has 6 decimal places, so every amount that
moves is quantized to 6 places (ROUND_HALF_UP), and the ledger stores integer micro-USDC.
The node computes a receipt's `value_usdc` with `job_value`, and the control plane checks
it with the same function, so the two can never disagree by a rounding step.

    value  = round6((input_tokens * input_per_1k + output_tokens * output_per_1k) / 1000)
    fee    = round6(value * 15 / 100)             (the platform's share, Book §6.3)
    node   = value - fee                           (so node + fee == value exactly)

Book example: a 0.00156 receipt pays the node 0.001326 and the platform 0.000234.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

USDC_PLACES = Decimal("0.000001")
MICROS_PER_USDC = 1_000_000
PLATFORM_FEE_RATE = Decimal("0.15")
_MAX_PRICE = Decimal(1000)  # per 1K tokens; anything above is a typo, not a price
# Any amount moved is below a trillion USDC: its micro-USDC fit the ledger's 64-bit
# integers with room to sum, and quantizing it never exceeds Decimal's 28 digits.
MAX_AMOUNT = Decimal(10) ** 12
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")  # ASCII digits only (not \d)
_MAX_TEXT = 64  # longer text is no amount, and is not worth matching


class MoneyError(ValueError):
    """An amount or price that is not a valid USDC figure; the message says why."""


def usdc(value: str | Decimal | int) -> Decimal:
    """Parse an amount with at most 6 decimal places and below `MAX_AMOUNT`: a string of
    ASCII digits with an optional sign and decimal point (no exponent, spaces, `_` or
    other scripts' digits), a finite Decimal, or an int."""
    if isinstance(value, float | bool):
        raise MoneyError("amounts are decimal strings, never floats")
    if isinstance(value, str) and len(value) > _MAX_TEXT:
        raise MoneyError(f"{value[:20]}... is {len(value)} characters: no amount is that long")
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        raise MoneyError(
            f"{value[:40]!r} is not a decimal amount: write digits with an optional "
            "point, e.g. 10.00 (no exponent, spaces or separators)"
        )
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise MoneyError(f"{value!r} is not a decimal number") from exc
    if not amount.is_finite():
        raise MoneyError(f"{value!r} is not a finite amount")
    if abs(amount) >= MAX_AMOUNT:
        raise MoneyError(f"{str(value)[:40]} is too large an amount (at most {MAX_AMOUNT - 1})")
    if amount != amount.quantize(USDC_PLACES, rounding=ROUND_HALF_UP):
        raise MoneyError(f"{value} has more than 6 decimal places (USDC's precision)")
    return amount.quantize(USDC_PLACES)


def round6(amount: Decimal) -> Decimal:
    return amount.quantize(USDC_PLACES, rounding=ROUND_HALF_UP)


def price(value: str | Decimal | int) -> Decimal:
    """A per-1K-token price: positive, at most 6 decimal places, below 1000 USDC."""
    amount = usdc(value)
    if amount <= 0:
        raise MoneyError("a price must be more than 0 (free inference is not a price)")
    if amount >= _MAX_PRICE:
        raise MoneyError(f"a price of {amount} USDC per 1K tokens is implausibly high")
    return amount


def job_value(
    input_tokens: int, output_tokens: int, input_per_1k: Decimal, output_per_1k: Decimal
) -> Decimal:
    """What a job (or one node's segment of it) costs the client, rounded to 6 places."""
    raw = (Decimal(input_tokens) * input_per_1k + Decimal(output_tokens) * output_per_1k) / 1000
    return round6(raw)


def platform_fee(value: Decimal) -> Decimal:
    return round6(value * PLATFORM_FEE_RATE)


def split_fee(value: Decimal) -> tuple[Decimal, Decimal]:
    """(node's share, platform's share); they sum to `value` exactly."""
    fee = platform_fee(value)
    return value - fee, fee


def to_micros(amount: Decimal) -> int:
    return int(round6(amount) * MICROS_PER_USDC)


def from_micros(micros: int) -> Decimal:
    return (Decimal(micros) / MICROS_PER_USDC).quantize(USDC_PLACES)


def show(amount: Decimal) -> str:
    """The canonical string of an amount: always 6 places (``"1.000000"``)."""
    return format(round6(amount), "f")

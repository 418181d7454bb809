"""Model-written copy for a program set to ``copy: generated``.

The marketer writes a brief; a configured language model writes each message from it, the
products and the brand voice, within the channel's length. Whatever it writes passes the same
reply guard as the agent's answers (no discount or code the policy did not grant, no other
person's contact data, no blocked topic); when there is no model, the model fails, or the guard
refuses, the template is sent instead. Policy only states the request; the app brings the model.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel

from policy.content import ContentProduct

# Room left for the brand prefix, the product lines and the opt-out line within SMS budgets.
MAX_CHARS = {"sms": 240, "whatsapp": 600, "telegram": 600}


class CopyRequest(BaseModel):
    program: str
    brief: str
    brand: str
    voice: str
    channel: str
    first_name: str | None
    products: list[ContentProduct]
    template_text: str  # what would be sent otherwise: an example of the tone and facts
    max_chars: int
    discount_code: str | None = None  # granted by the decision: the only one it may mention
    discount_percent: float | None = None


class CopyWriter(Protocol):
    async def write(self, request: CopyRequest) -> str | None:
        """The message text, or None to send the template."""
        ...

"""Email templates. Texts follow the customer's documents word for word where they give one."""

from __future__ import annotations

from dataclasses import dataclass
from string import Template


@dataclass(frozen=True, slots=True)
class EmailTemplate:
    subject: Template
    body: Template

    def render(self, **values: str) -> tuple[str, str]:
        return self.subject.substitute(values), self.body.substitute(values)


OUTBID = EmailTemplate(
    subject=Template("You have been outbid on $product"),
    body=Template(
        """Dear $username,

You have been outbid on the auction for $product.

New highest bid: Rs. $amount

If you're still interested, you can place a higher bid to regain the lead.

Log in to your MadeInPK account to view the auction and place a new bid.

Thank you for using MadeInPK!
"""
    ),
)

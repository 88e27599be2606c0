"""What a manual unit's account says in the config: who to tell, which column page to watch.

Robot keys and tokens are secrets: a contact names the account credential that holds one
(``wecom_credential = "informant_wecom"`` → ``credentials.informant_wecom = "${NAME}"``), so they are
resolved, masked and redacted like every other channel credential.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Contact(BaseModel):
    """One person (or their group): any of WeChat OpenID, e-mail, WeCom robot, DingTalk robot."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    openid: str = ""                           # an OpenID on the console's WeChat account
    email: str = Field("", pattern=r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$")
    wecom_credential: str = ""                 # credential holding the WeCom group robot's key
    dingtalk_credential: str = ""              # credential holding the DingTalk robot's access_token
    dingtalk_secret_credential: str = ""       # credential holding its 加签 secret, when signing is on

    @model_validator(mode="after")
    def _reachable(self) -> Contact:
        if not (self.openid or self.email or self.wecom_credential or self.dingtalk_credential):
            raise ValueError("name at least one of openid, email, wecom_credential, dingtalk_credential")
        if self.dingtalk_secret_credential and not self.dingtalk_credential:
            raise ValueError("dingtalk_secret_credential needs dingtalk_credential")
        return self

    def credential_names(self) -> list[str]:
        return [n for n in (self.wecom_credential, self.dingtalk_credential, self.dingtalk_secret_credential) if n]


class ManualOptions(BaseModel):
    """``options`` of a ``kind = "manual"`` account."""

    model_config = ConfigDict(extra="forbid")

    column_url: str = Field(pattern=r"^https?://")      # the unit's column list page where reprints appear
    informant: Contact                                   # the unit's 信息员: notified, reminded, reports done
    responsible: Contact | None = None                   # escalated to when the reprint is overdue
    encoding: str | None = None                          # force the column page's charset (e.g. "gbk")
    match: str = Field("title_or_link", pattern="^(title|link|title_or_link)$")
    link_valid_days: float = Field(7, gt=0, le=60)       # how long the copy / report links in a notice work
    report_hosts: list[str] = []                         # hosts a reported reprint URL may be on, besides the
                                                         # column page's own

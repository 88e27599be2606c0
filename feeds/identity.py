"""What makes two upstream entries the same document.

Strong keys first: normalised URL, a globally meaningful guid, the official document number (文号). A content
hash alone is weak evidence — many distinct documents carry the same stub body — so the store merges on it
only when the normalised titles agree too and the body is substantive (``is_substantive``).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit

_TRACKING = re.compile(r"^(utm_|spm$|from$|share)", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str) -> str:
    """Scheme-less, lower-case host, no default port, fragment or tracking parameters.

    gov.cn serves the same page over http and https and with share parameters; all are one page.
    A URL Python cannot split (bad IPv6 literal, port out of range) is returned stripped, as is:
    it still identifies itself, and de-duplication must not raise.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip()
    host = (parts.hostname or "").lower()
    if port and port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{port}"
    path = parts.path or "/"
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                             if not _TRACKING.match(k)))
    return f"//{host}{path}" + (f"?{query}" if query else "")


def content_hash(title: str, body_text: str, *, url: str = "") -> str:
    """Hash of the body text (whitespace folded): equal hashes mean the same document.

    A body without text (a scanned notice that is one image, or no body yet) is no evidence of
    sameness — periodic 任免 notices share their titles — so its hash is taken over a marker, the
    canonical URL and the title: it never equals a body-text hash nor another page's, and stays
    stable for the same page (no false "updated" on a re-check). Pass ``url``; without it, two
    text-less documents with one title still share a hash.
    """
    text = _SPACE.sub("", body_text)
    if text:
        basis = text
    else:
        basis = "\x00no-body-text\x00" + (canonical_url(url) if url else "") + "\x00" + _SPACE.sub("", title)
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()


# 文号 (official document number), e.g. 国办发〔2025〕12号, 鄂政办发[2025]3号, 国函（2024）7号. GB/T 9704-2012
# 《党政机关公文格式》 §7.2.4 fixes its form (docs/content-integrity.md): issuing-organ code, full year in 〔〕,
# serial number without leading zeros, 号. Upstream sites mix the bracket
# forms (〔〕 [] ［］ （）), so all normalise to 〔〕 and leading zeros go.
_DOC_NO = re.compile(r"([\u4e00-\u9fff]{1,12})\s*[〔\[［【(（]\s*((?:19|20)\d{2})\s*[〕\]］】)）]\s*0*(\d{1,5})\s*号")
# Entry.extra names a list source may map the document number to. The gov.cn policy library's `pcode` is taken
# to be the 发文字号 (docs/content-integrity.md: a lead, not yet checked live); only a value that *has* the 文号
# form is ever used, so a field that turns out to hold something else merges nothing.
DOC_NUMBER_FIELDS = ("doc_number", "document_number", "pcode", "文号")
_BODY_LINES_SCANNED = 30
# Bodies that say nothing about which document they belong to: government feeds use them for many
# distinct documents ("详见附件。", "请点击查看附件", "全文见附件" followed by attachment names).
# Up to 200 characters may follow (the attachments' names); a real document is longer than that.
_STUB = re.compile(r"^(?:(?:详情|内容|全文|具体内容)?(?:详|请|请详)?见附件|(?:请)?点击(?:此处)?(?:查看|下载)"
                   r"(?:附件|全文|原文)?|附件[:：]?)[。.！!：:]?.{0,200}$")
_GUID_SCHEMES = re.compile(r"^(?:urn|tag):", re.IGNORECASE)
_MIN_OPAQUE_GUID = 16


def document_number(text: str) -> str:
    """The normalised 文号 when ``text`` is one (whole text, whitespace aside), else ""."""
    m = _DOC_NO.fullmatch(text.strip())
    return f"{m[1]}〔{m[2]}〕{m[3]}号" if m else ""


def find_document_number(extra: dict[str, str], body_text: str) -> str:
    """The document's 文号 from list metadata, else from a body line that is nothing but a 文号 (where the
    document itself prints it, under the heading). A 文号 quoted inside a sentence — an interpretation citing
    the policy it explains — is not this document's number and is ignored."""
    for name in DOC_NUMBER_FIELDS:
        if number := document_number(str(extra.get(name) or "")):
            return number
    for line in body_text.split("\n", _BODY_LINES_SCANNED)[:_BODY_LINES_SCANNED]:
        if number := document_number(line):
            return number
    return ""


def normalise_title(title: str) -> str:
    """Letters and digits only, NFKC-folded: titles that differ in spacing, punctuation or full/half width agree."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", title) if ch.isalnum()).lower()


def is_substantive(body_text: str, min_chars: int) -> bool:
    """Whether a body says enough to identify its document: at least ``min_chars`` characters (whitespace
    aside) and not a known stub pattern. A stub's hash equals every other stub's and proves nothing."""
    text = _SPACE.sub("", body_text)
    return len(text) >= min_chars and not _STUB.fullmatch(text)


def guid_key(guid: str, url: str) -> str:
    """A guid that names the document wherever it appears (a URI other than the link, a urn:/tag: id, a long
    opaque id), else "": short ids such as "1024" are per-site counters and collide across sources."""
    guid = guid.strip()
    if not guid or guid == url:
        return ""
    if "://" in guid:
        key = canonical_url(guid)
        return "" if key == canonical_url(url) else f"guid:{key}"
    if _GUID_SCHEMES.match(guid) or (len(guid) >= _MIN_OPAQUE_GUID and not _SPACE.search(guid)):
        return f"guid:{guid}"
    return ""

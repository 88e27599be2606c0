"""Images for WeChat: body images re-hosted through media/uploadimg, the cover as permanent material.

- media/uploadimg: "图片仅支持jpg/png格式，大小必须在1MB以下", returns ``url`` on mmbiz.qpic.cn
  (https://developers.weixin.qq.com/doc/service/api/material/permanent/api_uploadimage).
- material/add_material?type=image: permanent material (bmp/png/jpeg/jpg/gif; the current page allows
  10 MB, older ones 2 MB — we cap at 2 MB), returns ``media_id``; draft/add needs it as ``thumb_media_id``
  (https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/Adding_Permanent_Assets.html).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import struct
import zlib
from functools import cache

import aiohttp

from channels.base import PermanentError
from channels.retrying import in_call_retrying
from channels.wechat.client import WechatClient

log = logging.getLogger(__name__)
BODY_IMAGE_MAX = 1024 * 1024 - 1
COVER_MAX = 2 * 1024 * 1024
IMAGE_TTL_S = 30 * 86400
COVER_SIZE = (900, 383)          # 2.35:1, the article card ratio
COVER_RGB = (0xB7, 0x1C, 0x1C)  # government red


def sniff(data: bytes) -> str | None:
    """'png' / 'jpeg' / 'gif' / 'bmp' from magic bytes, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data.startswith(b"BM"):
        return "bmp"
    return None


def solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid single-colour PNG, built without Pillow."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(row * height, 9)) + chunk(b"IEND", b""))


@cache
def default_cover() -> bytes:
    return solid_png(*COVER_SIZE, COVER_RGB)


class ImageUnavailable(Exception):
    """This image cannot be used (download failed, too large, wrong format); the article goes without it."""


class WechatMedia:
    RETRY_WAIT_S = 0.3

    def __init__(self, client: WechatClient) -> None:
        self.client = client
        self.ctx = client.ctx
        self._cover_lock = asyncio.Lock()

    async def download(self, url: str, limit: int, kinds: set[str]) -> tuple[bytes, str]:
        retrying = in_call_retrying(2, on=(aiohttp.ClientError, TimeoutError), wait_s=self.RETRY_WAIT_S)
        try:
            async for attempt in retrying:
                with attempt:
                    async with self.ctx.session.get(url, timeout=aiohttp.ClientTimeout(total=30)) as resp:
                        if resp.status != 200:
                            raise ImageUnavailable(f"HTTP {resp.status}")
                        if (resp.content_length or 0) > limit:
                            raise ImageUnavailable(f"{resp.content_length} bytes > {limit}")
                        data = await resp.content.read(limit + 1)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ImageUnavailable(type(exc).__name__) from None
        if len(data) > limit:
            raise ImageUnavailable(f"more than {limit} bytes")
        kind = sniff(data)
        if kind not in kinds:
            raise ImageUnavailable(f"format {kind or 'unknown'} not accepted")
        return data, kind

    @staticmethod
    def _form(data: bytes, kind: str, name: str) -> aiohttp.FormData:
        form = aiohttp.FormData()
        form.add_field("media", data, filename=f"{name}.{'jpg' if kind == 'jpeg' else kind}",
                       content_type=f"image/{kind}")
        return form

    async def rehost(self, url: str) -> str:
        """The mmbiz URL for one body image (cached in kv), or ImageUnavailable."""
        key = f"wechat:img:{self.client.appid}:{hashlib.sha256(url.encode()).hexdigest()[:32]}"
        cached = await self.ctx.kv.get(key)
        if cached:
            return cached
        data, kind = await self.download(url, BODY_IMAGE_MAX, {"png", "jpeg"})
        try:
            body = await self.client.call("media/uploadimg", form=lambda: self._form(data, kind, "image"))
        except PermanentError as exc:
            if exc.code in (40005, 40009):
                raise ImageUnavailable(f"uploadimg errcode {exc.code}") from None
            raise
        hosted = str(body.get("url") or "")
        if not hosted:
            raise ImageUnavailable("uploadimg returned no url")
        await self.ctx.kv.put(key, hosted, ttl_seconds=IMAGE_TTL_S)
        return hosted

    async def rehost_all(self, urls: tuple[str, ...], concurrency: int = 4) -> dict[str, str | None]:
        gate = asyncio.Semaphore(concurrency)

        async def one(url: str) -> str | None:
            async with gate:
                try:
                    return await self.rehost(url)
                except ImageUnavailable as exc:
                    log.warning("wechat %s: image %s skipped: %s", self.client.account.id, url, exc)
                    return None

        results = await asyncio.gather(*(one(u) for u in urls))
        return dict(zip(urls, results, strict=True))

    def _cover_key(self, source: str) -> str:
        return f"wechat:thumb:{self.client.appid}:{hashlib.sha256(source.encode()).hexdigest()[:16]}"

    async def thumb_media_id(self, cover_url: str | None) -> str:
        """Permanent image material for the article cover, uploaded once per account and source."""
        source = cover_url or "default"
        key = self._cover_key(source)
        async with self._cover_lock:
            cached = await self.ctx.kv.get(key)
            if cached:
                return cached
            data, kind = default_cover(), "png"
            if cover_url:
                try:
                    data, kind = await self.download(cover_url, COVER_MAX, {"png", "jpeg", "gif", "bmp"})
                except ImageUnavailable as exc:
                    log.warning("wechat %s: cover %s unusable (%s); using the default cover",
                                self.client.account.id, cover_url, exc)
            body = await self.client.call("material/add_material", query={"type": "image"},
                                          form=lambda: self._form(data, kind, "cover"))
            media_id = str(body.get("media_id") or "")
            if not media_id:
                raise PermanentError("微信未返回封面素材ID", "add_material: no media_id")
            await self.ctx.kv.put(key, media_id)          # permanent material: no ttl
            return media_id

    async def forget_thumb(self, cover_url: str | None) -> None:
        """Drop a cached cover that the platform no longer knows (deleted from the material library)."""
        await self.ctx.kv.put(self._cover_key(cover_url or "default"), "", ttl_seconds=1)

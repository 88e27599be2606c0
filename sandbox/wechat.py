"""A local look-alike of the WeChat official-account API (``api.weixin.qq.com``).

Same paths, ``access_token`` query parameter, JSON bodies and ``{"errcode", "errmsg"}`` error bodies as
the real service: stable_token / token, media/uploadimg, material/add_material, draft/add|get,
freepublish/submit|get|batchget, message/mass/sendall|get (and message/custom|template/send, see
sandbox/wechat_messages.py). When ``callback_url`` is set it POSTs a
signed PUBLISHJOBFINISH event to the hub the way WeChat does: in safe mode (``callback_aes_key`` set) the
body is ``<Encrypt>`` with ``encrypt_type=aes`` and ``msg_signature`` (made with wechatpy's WeChatCrypto,
the SDK's own implementation of WeChat's scheme), else plain with ``signature`` over token/timestamp/nonce.

One deliberate difference: the real draft/add silently *filters* external image URLs ("外部图片url将被
过滤"); the look-alike rejects them with errcode 45166 (chosen, "invalid content") so a rendering bug
that forgets to re-host images fails loudly in tests. Pass ``strict_images=False`` to filter instead.

Faults: every API call (token endpoints included) goes through ``FAULTS``: outage → HTTP 503, latency,
then ``next_code()`` answered with the real error body; after a successful freepublish/submit or mass/sendall
the reply may be delayed or lost (``latency_after_ms``, ``drop_response*``). A scripted ``0`` means "answer normally";
token endpoints leave 40001/40014/42001 in the script for the next API call (they never send those).
``token_expiry_after=N`` kills a token after N API calls (42001), as tokens are replaced elsewhere.
``POST /_sandbox/wechat/jobs {"publish_id", "status"}`` forces a publish job's final status (2..6).

Stricter-than-lenient rules (each as the doc says):
- A JSON body with a ``\\uXXXX`` escape is refused with 40033 (global return codes: "不合法的请求字符，不能包含
  \\uxxxx格式的字符"; draft/add: do not send \\u escapes). Any escape is refused, even one the real service
  might accept (an escaped control character): stricter, never more lenient.
- stable_token and /cgi-bin/token issue tokens from isolated pools ("与 getAccessToken 获取的调用凭证完全隔离，
  互不影响"); a forced stable_token refresh within 30 s of the previous one does not refresh ("连续使用该模式时，
  请保证调用时间隔至少为30s，否则不会刷新"), and the 21st forced refresh of a day is refused with 45009 (the doc
  says "每天限用20次" without naming the code; 45009 is the daily-quota code).
- ``hold_codes``: account-level conditions (89501/89503/89506/89507 IP confirmation, 50004/50007 banned/frozen)
  answered to every call, token endpoints included, until cleared; ``mass_hold_code`` (89504/89505) answers
  message/mass/sendall the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import xmltodict
from aiohttp import web
from wechatpy.crypto import WeChatCrypto

from sandbox.common import FAULTS, RECORDER, Faults, add_sandbox_routes, redact
from sandbox.wechat_messages import add_message_routes
from sandbox.wechat_state import IMG_SRC, MMBIZ, STATE, TOKEN_CODES, Job, WechatState, err

__all__ = ["STATE", "WechatState", "build_app"]

Route = Callable[[web.Request, WechatState, Any], Awaitable[dict[str, Any]]]
PUBLISHING = frozenset({"freepublish/submit", "message/mass/sendall"})
_ESCAPE = re.compile(rb"\\u[0-9a-fA-F]{4}")
FORCE_GAP_S, FORCE_PER_DAY = 30.0, 20


async def _body(request: web.Request) -> Any:
    if request.content_type.startswith("multipart/"):
        post = await request.post()
        media = post.get("media")
        if isinstance(media, web.FileField):
            data = media.file.read()
            return {"media": {"filename": media.filename, "content_type": media.content_type,
                              "size": len(data), "_bytes": data}}
        return {}
    raw = await request.read()
    if _ESCAPE.search(raw):
        return {"_escaped": True}
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {"_raw": raw.decode("utf-8", "replace")}


def api(route: Route, *, auth: bool = True, posts: bool = False) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Wrap a route with token checks and faults; ``posts``: the route publishes (after-effect faults apply).

    Each recorder entry gets the ``errcode`` it was answered with (0 for success), so tests can see a rejected
    token followed by the same call succeeding.
    """
    async def handler(request: web.Request) -> web.Response:
        entry = request.app[RECORDER].record(request, None)
        answer = await _answer(request, entry)
        entry["errcode"] = answer.get("errcode", 0) if isinstance(answer, dict) else None
        if not isinstance(answer, dict):
            return answer
        response = web.json_response(answer)
        if posts and entry["errcode"] == 0 and await request.app[FAULTS].reply_lost(request):
            entry["reply_lost"] = True
        return response

    async def _answer(request: web.Request, entry: dict[str, Any]) -> dict[str, Any] | web.Response:
        state, faults = request.app[STATE], request.app[FAULTS]
        body = await _body(request)
        entry["body"] = redact({k: ({kk: vv for kk, vv in v.items() if kk != "_bytes"} if isinstance(v, dict) else v)
                                for k, v in body.items()} if isinstance(body, dict) else body)
        if faults.in_outage():
            return web.Response(status=503, text="Service Unavailable")
        await faults.delay()
        # Token endpoints never answer "token invalid"; leave those scripted codes for the next API call.
        skip = not auth and bool(faults.script) and faults.script[0] in TOKEN_CODES
        code = None if skip else faults.next_code()
        if code and not (not auth and code in TOKEN_CODES):      # a scripted 0 means "answer normally"
            return err(code)
        if state.hold_code:
            return err(state.hold_code)
        if auth:
            token = request.query.get("access_token")
            info = state.tokens.get(token or "")
            if not token:
                return err(41001)
            if info is None:
                return err(40001)
            limit = faults.faults.token_expiry_after
            info["calls"] += 1
            if info["dead"] or (limit is not None and info["calls"] > limit):
                info["dead"] = True
                return err(42001)
        if isinstance(body, dict) and body.get("_escaped"):
            return err(40033)
        return await route(request, state, body)
    return handler


def _credentials_error(state: WechatState, appid: str | None, secret: str | None) -> dict[str, Any] | None:
    if appid != state.appid:
        return err(40013)
    if secret != state.secret:
        return err(40125)
    return None


async def stable_token(request: web.Request, state: WechatState, body: Any) -> dict[str, Any]:
    if body.get("_escaped"):
        return err(40033)
    bad = _credentials_error(state, body.get("appid"), body.get("secret"))
    if bad:
        return bad
    current = state.tokens.get(state.current or "")
    if current is None or current["dead"]:
        state.issue("stable")
    elif body.get("force_refresh"):
        now = time.time()
        state.forced = [t for t in state.forced if now - t < 86400]
        if len(state.forced) >= FORCE_PER_DAY:
            return err(45009)
        if not state.forced or now - state.forced[-1] >= FORCE_GAP_S:
            state.forced.append(now)
            state.issue("stable")
    return {"access_token": state.current, "expires_in": 7200}


async def token(request: web.Request, state: WechatState, body: Any) -> dict[str, Any]:
    bad = _credentials_error(state, request.query.get("appid"), request.query.get("secret"))
    return bad or {"access_token": state.issue("plain"), "expires_in": 7200}


def _image(body: Any) -> tuple[bytes, str]:
    media = body.get("media") or {}
    data: bytes = media.get("_bytes", b"")
    kind = ("png" if data.startswith(b"\x89PNG") else "jpeg" if data.startswith(b"\xff\xd8\xff")
            else "gif" if data[:4] == b"GIF8" else "bmp" if data.startswith(b"BM") else "")
    return data, kind


async def uploadimg(request: web.Request, state: WechatState, body: Any) -> dict[str, Any]:
    data, kind = _image(body)
    if kind not in ("png", "jpeg"):
        return err(40005)
    if len(data) >= 1024 * 1024:
        return err(40009)
    digest = hashlib.sha1(data).hexdigest()
    return {"url": f"http://mmbiz.qpic.cn/sz_mmbiz_{kind}/{digest}/0?wx_fmt={kind}", "errcode": 0, "errmsg": "ok"}


async def add_material(request: web.Request, state: WechatState, body: Any) -> dict[str, Any]:
    if request.query.get("type") != "image":
        return err(40004, "invalid media type")
    data, kind = _image(body)
    if not kind:
        return err(40005)
    if len(data) > 10 * 1024 * 1024:
        return err(40009)
    media_id = "sbx_mat_" + hashlib.sha1(data).hexdigest()[:20] + f"_{next(state.ids)}"
    state.materials[media_id] = data
    return {"media_id": media_id, "url": f"http://mmbiz.qpic.cn/sz_mmbiz_{kind}/{media_id}/0"}


def _check_article(state: WechatState, article: dict[str, Any]) -> dict[str, Any] | None:
    if article.get("thumb_media_id") not in state.materials:
        return err(40007)
    if not article.get("title") or len(article["title"]) > 32:
        return err(45003)
    if len(article.get("digest") or "") > 128:
        return err(45004)
    if len(article.get("content") or "") >= 20_000:
        return err(45002)
    external = [s for s in IMG_SRC.findall(article.get("content") or "") if not MMBIZ.match(s)]
    if external and state.strict_images:
        return err(45166, f"invalid content hint: external image {external[0]}")
    return None


async def draft_add(request: web.Request, state: WechatState, body: Any) -> dict[str, Any]:
    articles = body.get("articles") or []
    if not articles or len(articles) > 8:        # draft/add: "图文消息条数限制在8条以内"; 45008 图文消息超过限制
        return err(45008)
    for article in articles:
        problem = _check_article(state, article)
        if problem:
            return problem
        article["content"] = IMG_SRC.sub(lambda m: m.group(0) if MMBIZ.match(m.group(1)) else "<img",
                                         article.get("content") or "")
    media_id = f"sbx_draft_{next(state.ids)}"
    state.drafts[media_id] = articles
    return {"media_id": media_id}


async def draft_get(request: web.Request, state: WechatState, body: Any) -> dict[str, Any]:
    articles = state.drafts.get(str(body.get("media_id")))
    return {"news_item": articles} if articles else err(40007)


async def _deliver_event(state: WechatState, job: Job) -> None:
    await asyncio.sleep(max(0.0, job.ready_at - time.monotonic()))
    if not state.callback_url:
        return
    timestamp, nonce = str(int(state.now())), secrets.token_hex(5)
    detail = (f"<article_id><![CDATA[{job.article_id}]]></article_id><article_detail><count>1</count><item>"
              f"<idx>1</idx><article_url><![CDATA[{_url(job)}]]></article_url></item></article_detail>"
              if job.status == 0 else "<fail_idx>1</fail_idx>")
    xml = (f"<xml><ToUserName><![CDATA[gh_sandbox]]></ToUserName><FromUserName><![CDATA[o_sandbox_admin]]>"
           f"</FromUserName><CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
           f"<Event><![CDATA[PUBLISHJOBFINISH]]></Event><PublishEventInfo><publish_id>{job.publish_id}"
           f"</publish_id><publish_status>{job.status}</publish_status>{detail}</PublishEventInfo></xml>")
    signature = hashlib.sha1("".join(sorted([state.callback_token, timestamp, nonce])).encode()).hexdigest()
    params = {"signature": signature, "timestamp": timestamp, "nonce": nonce, "openid": "o_sandbox_admin"}
    if state.callback_aes_key:
        # Safe mode: encrypt_type=aes, msg_signature over token, timestamp, nonce and the Encrypt element
        # (https://developers.weixin.qq.com/doc/service/en/Message_Management/Message_encryption_and_decryption_instructions.html)
        envelope = WeChatCrypto(state.callback_token, state.callback_aes_key, state.appid).encrypt_message(
            xml, nonce, timestamp)
        params |= {"encrypt_type": "aes", "msg_signature": xmltodict.parse(envelope)["xml"]["MsgSignature"]}
        xml = envelope
    result: dict[str, Any] = {"publish_id": job.publish_id, "status": job.status}
    try:
        async with aiohttp.ClientSession() as session, session.post(
                state.callback_url, params=params, data=xml.encode(), headers={"Content-Type": "text/xml"},
                timeout=aiohttp.ClientTimeout(total=5)) as resp:
            result.update(http_status=resp.status, answer=(await resp.text())[:200])
    except (aiohttp.ClientError, TimeoutError) as exc:
        result["error"] = type(exc).__name__
    state.events_sent.append(result)


def _url(job: Job) -> str:
    return f"https://mp.weixin.qq.com/s/{job.article_id}"


async def submit(request: web.Request, state: WechatState, body: Any) -> dict[str, Any]:
    media_id = str(body.get("media_id"))
    articles = state.drafts.pop(media_id, None)     # published drafts leave the draft box
    if not articles:
        return err(40007)
    title = articles[0].get("title", "")
    rejected = any(word and word in title for word in state.review_reject_titles)
    publish_id = str(next(state.ids))
    job = Job(publish_id, media_id, articles[0], time.monotonic() + state.publish_delay_s, 4 if rejected else 0,
              "sbx_art_" + secrets.token_urlsafe(12))
    state.jobs[publish_id] = job
    task = asyncio.get_running_loop().create_task(_deliver_event(state, job))
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)
    return {"errcode": 0, "errmsg": "ok", "publish_id": publish_id, "msg_data_id": next(state.ids)}


async def publish_get(request: web.Request, state: WechatState, body: Any) -> dict[str, Any]:
    job = state.jobs.get(str(body.get("publish_id")))
    if job is None:
        return err(40007, "invalid publish_id")
    if time.monotonic() < job.ready_at:
        return {"publish_id": job.publish_id, "publish_status": 1}
    if job.status != 0:
        return {"publish_id": job.publish_id, "publish_status": job.status, "fail_idx": [1]}
    return {"publish_id": job.publish_id, "publish_status": 0, "article_id": job.article_id,
            "article_detail": {"count": 1, "item": [{"idx": 1, "article_url": _url(job)}]}, "fail_idx": []}


async def batchget(request: web.Request, state: WechatState, body: Any) -> dict[str, Any]:
    done = [j for j in state.jobs.values() if j.status == 0 and time.monotonic() >= j.ready_at][::-1]
    offset, count = int(body.get("offset", 0)), min(20, int(body.get("count", 20)))
    items = [{"article_id": j.article_id, "update_time": int(time.time()),
              "content": {"news_item": [{**j.article, "url": _url(j), "is_deleted": False}]}}
             for j in done[offset:offset + count]]
    return {"total_count": len(done), "item_count": len(items), "item": items}


async def sendall(request: web.Request, state: WechatState, body: Any) -> dict[str, Any]:
    if state.mass_hold_code:
        return err(state.mass_hold_code)
    client_msg_id = body.get("clientmsgid")
    if client_msg_id and client_msg_id in state.client_msg_ids:
        return err(45065)
    media_id = str((body.get("mpnews") or {}).get("media_id"))
    if body.get("msgtype") != "mpnews" or media_id not in state.drafts:
        return err(40007)
    if state.mass_quota <= 0:
        return err(45028)
    state.mass_quota -= 1
    if client_msg_id:
        state.client_msg_ids.add(client_msg_id)
    msg_id = str(next(state.ids))
    state.mass[msg_id] = {"articles": state.drafts.pop(media_id), "status": "SEND_SUCCESS"}
    return {"errcode": 0, "errmsg": "send job submission success", "msg_id": int(msg_id), "msg_data_id": 1}


async def mass_get(request: web.Request, state: WechatState, body: Any) -> dict[str, Any]:
    sent = state.mass.get(str(body.get("msg_id")))
    return {"msg_id": body.get("msg_id"), "msg_status": sent["status"]} if sent else err(40059, "invalid msg id")


async def _jobs(request: web.Request) -> web.Response:
    """GET: publish jobs; POST {publish_id, status}: force a final status (2..6) for demos and tests."""
    state = request.app[STATE]
    if request.method == "POST":
        body = await request.json()
        state.jobs[str(body["publish_id"])].status = int(body["status"])
    return web.json_response([{"publish_id": j.publish_id, "status": j.status, "title": j.article.get("title"),
                               "article_url": _url(j)} for j in state.jobs.values()])


async def _hold(request: web.Request) -> web.Response:
    """POST {"code": N | null, "mass": bool}: set or clear an account-level condition (demos and tests)."""
    state, body = request.app[STATE], await request.json()
    code = body.get("code")
    if body.get("mass"):
        state.mass_hold_code = int(code) if code else None
    else:
        state.hold_code = int(code) if code else None
    return web.json_response({"hold_code": state.hold_code, "mass_hold_code": state.mass_hold_code})


def build_app(faults: Faults | None = None, *, appid: str = "wx-sandbox", secret: str = "sandbox-appsecret",
              callback_url: str | None = None, callback_token: str = "sandbox-token", publish_delay_s: float = 0.0,
              review_reject_titles: list[str] | None = None, strict_images: bool = True,
              mass_quota: int = 1, callback_aes_key: str | None = None,
              now: Callable[[], float] = time.time) -> web.Application:
    app = web.Application(client_max_size=12 * 1024 * 1024)
    add_sandbox_routes(app, faults)
    app[STATE] = WechatState(appid, secret, callback_url, callback_token, publish_delay_s,
                             list(review_reject_titles or []), strict_images, mass_quota,
                             callback_aes_key=callback_aes_key, now=now)
    app.router.add_post("/cgi-bin/stable_token", api(stable_token, auth=False))
    app.router.add_get("/cgi-bin/token", api(token, auth=False))
    for path, route in {"media/uploadimg": uploadimg, "material/add_material": add_material,
                        "draft/add": draft_add, "draft/get": draft_get, "freepublish/submit": submit,
                        "freepublish/get": publish_get, "freepublish/batchget": batchget,
                        "message/mass/sendall": sendall, "message/mass/get": mass_get}.items():
        app.router.add_post(f"/cgi-bin/{path}", api(route, posts=path in PUBLISHING))
    app.router.add_route("*", "/_sandbox/wechat/jobs", _jobs)
    app.router.add_post("/_sandbox/wechat/hold", _hold)
    add_message_routes(app, api)          # message/custom/send, message/template/send

    async def stop_tasks(app: web.Application) -> None:
        for task in list(app[STATE].tasks):
            task.cancel()
    app.on_cleanup.append(stop_tasks)
    return app

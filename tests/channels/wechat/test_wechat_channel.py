"""WechatChannel end to end against the sandbox: publish, confirm, reconcile, mass send."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from channels.base import AuthExpired, PermanentError, Receipt, RetryLater
from channels.wechat.errors import publish_outcome
from sandbox.common import FAULTS, Faults
from sandbox.wechat import STATE, build_app
from tests.fakes import make_context
from tests.wechat_support import UNIT, channel, image_app, received, serve, state_council_item

KEY = "k" * 32


pytestmark = pytest.mark.usefixtures("fast_retries")


@pytest.fixture
async def images() -> str:
    async with serve(image_app()) as server:
        yield str(server.make_url("")).rstrip("/")


async def test_publish_rehosts_images_uploads_cover_once_and_confirms(images: str) -> None:
    async with serve(build_app()) as server, aiohttp.ClientSession() as session:
        ch = channel(server, make_context(session))
        receipt = await ch.publish(state_council_item(images), UNIT, KEY)
        assert receipt.pending and receipt.external_id.isdigit()
        assert "标题超过" in (receipt.note or "")
        draft = received(server, "draft/add")[0]["body"]["articles"][0]
        assert "mmbiz.qpic.cn" in draft["content"] and images not in draft["content"]
        assert len(draft["title"]) <= 32 and draft["content_source_url"].startswith("https://www.gov.cn/")
        assert len(received(server, "media/uploadimg")) == 2        # a.png twice in the body, uploaded once
        final = await ch.confirm(receipt)
        assert final is not None and not final.pending
        assert final.url and final.url.startswith("https://mp.weixin.qq.com/s/")
        assert final.external_id == receipt.external_id and "标题超过" in (final.note or "")
        second = await ch.publish(state_council_item(images, title="另一篇通知"), UNIT, "other-key")
        assert second.pending
        assert len(received(server, "material/add_material")) == 1   # cover cached as permanent material
        assert len(received(server, "media/uploadimg")) == 2          # body images cached too


async def test_confirm_is_none_while_publishing(images: str) -> None:
    async with serve(build_app(publish_delay_s=0.05)) as server, aiohttp.ClientSession() as session:
        ch = channel(server, make_context(session))
        receipt = await ch.publish(state_council_item(images), UNIT, KEY)
        assert await ch.confirm(receipt) is None
        await asyncio.sleep(0.06)
        assert (await ch.confirm(receipt)) is not None


async def test_review_rejection_is_permanent(images: str) -> None:
    async with serve(build_app(review_reject_titles=["以旧换新"])) as server, aiohttp.ClientSession() as session:
        ch = channel(server, make_context(session))
        receipt = await ch.publish(state_council_item(images), UNIT, KEY)
        with pytest.raises(PermanentError) as info:
            await ch.confirm(receipt)
        assert "审核不通过" in info.value.reason and info.value.code == 4


@pytest.mark.parametrize(("status", "words"), [
    (2, "原创"), (3, "常规失败"), (4, "审核不通过"), (5, "删除"), (6, "封禁"),
])
async def test_each_failed_publish_status(images: str, status: int, words: str) -> None:
    async with serve(build_app()) as server, aiohttp.ClientSession() as session:
        ch = channel(server, make_context(session))
        receipt = await ch.publish(state_council_item(images), UNIT, KEY)
        server.app[STATE].jobs[receipt.external_id].status = status
        with pytest.raises(PermanentError) as info:
            await ch.confirm(receipt)
        assert words in info.value.reason


def test_publish_outcome_shapes() -> None:
    assert publish_outcome("9", {"publish_status": "1"}) is None
    ok = publish_outcome("9", {"publish_status": "0", "article_id": "A",
                               "article_detail": {"count": "1", "item": {"idx": "1", "article_url": "https://u"}}})
    assert isinstance(ok, Receipt) and ok.url == "https://u" and ok.external_id == "9"
    assert isinstance(publish_outcome("9", {"publish_status": "x"}), PermanentError)
    assert "未知状态 9" in publish_outcome("9", {"publish_status": 9}).reason  # type: ignore[union-attr]


async def test_unusable_images_are_replaced_by_a_notice(images: str) -> None:
    extra = f'<p><img src="{images}/img/big.png"><img src="{images}/img/anim.gif"><img src="{images}/img/gone.png"></p>'
    async with serve(build_app()) as server, aiohttp.ClientSession() as session:
        ch = channel(server, make_context(session))
        receipt = await ch.publish(state_council_item(images, extra=extra), UNIT, KEY)
        assert "3 张图片未能转存" in (receipt.note or "")
        content = received(server, "draft/add")[0]["body"]["articles"][0]["content"]
        assert content.count("图片未能转载") == 3 and "big.png" not in content


async def test_repeat_publish_with_same_key_does_not_post_twice(images: str) -> None:
    async with serve(build_app()) as server, aiohttp.ClientSession() as session:
        ch = channel(server, make_context(session))
        first = await ch.publish(state_council_item(images), UNIT, KEY)
        again = await ch.publish(state_council_item(images), UNIT, KEY)
        assert again.external_id == first.external_id and not again.pending and again.url
        assert len(received(server, "freepublish/submit")) == 1 and len(received(server, "draft/add")) == 1


async def test_retry_after_failed_publish_posts_anew(images: str) -> None:
    async with serve(build_app()) as server, aiohttp.ClientSession() as session:
        ch = channel(server, make_context(session))
        first = await ch.publish(state_council_item(images), UNIT, KEY)
        server.app[STATE].jobs[first.external_id].status = 3
        again = await ch.publish(state_council_item(images), UNIT, KEY)
        assert again.external_id != first.external_id and again.pending


async def test_submit_failure_reuses_the_draft(images: str) -> None:
    async with serve(build_app()) as server, aiohttp.ClientSession() as session:
        ch = channel(server, make_context(session))
        await ch.client.access_token()
        await ch.media.thumb_media_id(None)
        server.app[FAULTS].configure(Faults(script=[0, 0, 0, -1]))   # 2 uploadimg, draft/add, then submit
        with pytest.raises(RetryLater):
            await ch.publish(state_council_item(images), UNIT, KEY)
        receipt = await ch.publish(state_council_item(images), UNIT, KEY)
        assert receipt.pending
        assert len(received(server, "draft/add")) == 1 and len(received(server, "draft/get")) == 1


async def test_lookup_finds_a_publication_whose_id_was_lost(images: str) -> None:
    async with serve(build_app()) as server, aiohttp.ClientSession() as session:
        ctx = make_context(session)
        ch = channel(server, ctx)
        assert await ch.lookup(KEY) is None
        receipt = await ch.publish(state_council_item(images), UNIT, KEY)
        record_key = f"wechat:post:{ch.account.id}:{KEY}"
        record = json.loads(await ctx.kv.get(record_key))
        del record["publish_id"]                                  # crash between submit and save
        await ctx.kv.put(record_key, json.dumps(record))
        found = await ch.lookup(KEY)
        assert found is not None and found.url and found.url.startswith("https://mp.weixin.qq.com/s/")
        assert receipt.external_id in server.app[STATE].jobs


async def test_deleted_cover_material_is_uploaded_again(images: str) -> None:
    async with serve(build_app()) as server, aiohttp.ClientSession() as session:
        ch = channel(server, make_context(session))
        await ch.media.thumb_media_id(None)
        server.app[STATE].materials.clear()                        # someone emptied the material library
        receipt = await ch.publish(state_council_item(images), UNIT, KEY)
        assert receipt.pending and len(received(server, "material/add_material")) == 2


async def test_missing_credentials_are_reported() -> None:
    async with serve(build_app(secret="other")) as server, aiohttp.ClientSession() as session:
        ch = channel(server, make_context(session))
        with pytest.raises(AuthExpired):
            await ch.publish(state_council_item("https://www.gov.cn"), UNIT, KEY)


async def test_mass_send_then_quota_spent_until_tomorrow(images: str) -> None:
    async with serve(build_app(mass_quota=1)) as server, aiohttp.ClientSession() as session:
        ch = channel(server, make_context(session), mode="mass_send")
        receipt = await ch.publish(state_council_item(images), UNIT, KEY)
        assert receipt.pending and receipt.external_id.startswith("mass:")
        body = received(server, "message/mass/sendall")[0]["body"]
        assert body["filter"] == {"is_to_all": True} and body["send_ignore_reprint"] == 1
        assert body["clientmsgid"].startswith(KEY)
        final = await ch.confirm(receipt)
        assert final is not None and not final.pending
        with pytest.raises(RetryLater) as info:
            await ch.publish(state_council_item(images, title="第二篇"), UNIT, "second")
        assert info.value.code == 45028 and info.value.retry_after == pytest.approx(14 * 3600 + 60)


async def test_mass_send_monthly_quota_waits_for_next_month(images: str) -> None:
    async with serve(build_app(mass_quota=0)) as server, aiohttp.ClientSession() as session:
        ch = channel(server, make_context(session), mode="mass_send", mass_quota_period="month")
        with pytest.raises(RetryLater) as info:
            await ch.publish(state_council_item(images), UNIT, KEY)
        # 2026-11-25 10:00 Shanghai → 2026-12-01 00:00 is 5 days 14 hours
        assert "下月" in info.value.reason and info.value.retry_after == pytest.approx((5 * 24 + 14) * 3600 + 60)


async def test_mass_send_repeat_is_refused_by_the_platform(images: str) -> None:
    async with serve(build_app(mass_quota=5)) as server, aiohttp.ClientSession() as session:
        ctx = make_context(session)
        ch = channel(server, ctx, mode="mass_send")
        await ch.publish(state_council_item(images), UNIT, KEY)
        ctx.kv.data.pop(f"wechat:post:{ch.account.id}:{KEY}")      # our record lost
        again = await ch.publish(state_council_item(images), UNIT, KEY)
        assert not again.pending and again.deduplicated and "未重复群发" in (again.note or "")
        assert len(server.app[STATE].mass) == 1


async def test_lost_submit_reply_waits_then_reposts_as_a_possible_duplicate(images: str) -> None:
    # publish_delay_s: the job stays "publishing", so it is not in the success-only batchget list yet
    async with serve(build_app(Faults(drop_responses=1), publish_delay_s=3600)) as server, \
            aiohttp.ClientSession() as session:
        ctx = make_context(session)
        ch = channel(server, ctx, lost_submit_wait_s=1800)
        with pytest.raises(RetryLater) as info:
            await ch.publish(state_council_item(images), UNIT, KEY)
        assert info.value.ambiguous and len(server.app[STATE].jobs) == 1       # submitted, answer lost
        for _ in range(2):                                                     # within the wait: never resubmit
            with pytest.raises(RetryLater) as info:
                await ch.lookup(KEY)
            assert info.value.ambiguous and info.value.retry_after == 300
            with pytest.raises(RetryLater):
                await ch.publish(state_council_item(images), UNIT, KEY)
            ctx.clock.advance(seconds=600)                                     # type: ignore[attr-defined]
        assert len(received(server, "freepublish/submit")) == 1
        ctx.clock.advance(seconds=600)                                         # type: ignore[attr-defined]
        assert await ch.lookup(KEY) is None                                    # 30 minutes on: not found
        again = await ch.publish(state_council_item(images), UNIT, KEY)
        assert again.pending and again.possible_duplicate and "可能重复发布" in (again.note or "")
        assert len(server.app[STATE].jobs) == 2 and len(received(server, "freepublish/submit")) == 2
        final = await ch.confirm(again)                                        # the flag survives the outcome
        assert final is None or final.possible_duplicate


async def test_lost_submit_reply_found_once_the_job_finishes(images: str) -> None:
    async with serve(build_app(Faults(drop_responses=1), publish_delay_s=3600)) as server, \
            aiohttp.ClientSession() as session:
        ch = channel(server, make_context(session))
        with pytest.raises(RetryLater):
            await ch.publish(state_council_item(images), UNIT, KEY)
        with pytest.raises(RetryLater):
            await ch.lookup(KEY)
        (job,) = server.app[STATE].jobs.values()
        job.ready_at = 0.0                                                     # published after all
        found = await ch.lookup(KEY)
        assert found is not None and not found.possible_duplicate and found.url == f"https://mp.weixin.qq.com/s/{job.article_id}"
        assert len(received(server, "freepublish/submit")) == 1


async def test_definite_submit_refusal_clears_the_marker(images: str) -> None:
    async with serve(build_app()) as server, aiohttp.ClientSession() as session:
        ctx = make_context(session)
        ch = channel(server, ctx)
        await ch.client.access_token()
        await ch.media.thumb_media_id(None)
        server.app[FAULTS].configure(Faults(script=[0, 0, 0, 53503]))   # 2 uploadimg, draft/add, then submit
        with pytest.raises(PermanentError):
            await ch.publish(state_council_item(images), UNIT, KEY)
        record = json.loads(await ctx.kv.get(f"wechat:post:{ch.account.id}:{KEY}"))
        assert "submitting" not in record and record["media_id"]


async def test_lookup_does_not_take_another_units_publication_of_the_same_original(images: str) -> None:
    async with serve(build_app()) as server, aiohttp.ClientSession() as session:
        ctx = make_context(session)
        other = channel(server, ctx, author="鄂州市财政局")
        await other.publish(state_council_item(images), UNIT, "other-unit-key")
        ch = channel(server, ctx)
        record = {"media_id": "sbx_draft_gone", "source_url": state_council_item(images).url, "author": UNIT.name,
                  "submitting": ctx.clock.now().isoformat()}
        await ctx.kv.put(f"wechat:post:{ch.account.id}:{KEY}", json.dumps(record))
        with pytest.raises(RetryLater):                     # same content_source_url, but not this unit's post
            await ch.lookup(KEY)
        await ctx.kv.put(f"wechat:post:{ch.account.id}:{KEY}", json.dumps(record | {"author": "鄂州市财政局"}))
        assert await ch.lookup(KEY) is not None             # control: with that unit's author it is found

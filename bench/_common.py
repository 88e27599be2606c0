"""Shared helpers for the benchmarks: repository path, machine facts, peak RSS, the sandbox in a
child process, hub settings for a synthetic city, State Council-like content, and profiling.

Scripts run as ``python bench/NAME.py``; importing this module first puts the repository root on
``sys.path`` so ``syndicator``, ``feeds``, ``channels`` and ``sandbox`` import from the checkout.
Product modules are imported inside functions here, never at module level.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import io
import json
import os
import platform
import pstats
import random
import resource
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PYTHON = sys.executable


# ---------------------------------------------------------------- machine and process facts


def peak_rss_mb() -> float:
    """Peak resident set size of this process (getrusage ru_maxrss, i.e. VmHWM), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """Current resident set size (VmRSS from /proc/self/status), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def proc_cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of another process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def thread_cpu() -> dict[str, float]:
    """CPU seconds (user + system) of this process's live threads, grouped: main (the event loop),
    sqlite (aiosqlite's connection thread), pool (asyncio.to_thread workers), log (the log writer), other."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for t in threading.enumerate():
        try:
            fields = Path(f"/proc/self/task/{t.native_id}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, TypeError):
            continue
        if t is threading.main_thread():
            group = "main"
        elif "_connection_worker_thread" in t.name:
            group = "sqlite"
        elif t.name.startswith("asyncio_"):
            group = "pool"
        elif "_monitor" in t.name:      # logging.handlers.QueueListener's thread (syndicator.logs)
            group = "log"
        else:
            group = "other"
        out[group] = out.get(group, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return out


def thread_cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(after[k] - before.get(k, 0.0), 2) for k in after if after[k] - before.get(k, 0.0) > 0}


def machine_facts() -> dict[str, str]:
    def run(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT).stdout.strip()
        except OSError:
            return "?"

    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "nproc": run("nproc"),
        "mem_total": next((ln.split()[1] for ln in run("free", "-h").splitlines() if ln.startswith("Mem:")), "?"),
        "python": platform.python_version(),
        "commit": run("git", "rev-parse", "--short", "HEAD"),
        "loadavg": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


def print_facts() -> None:
    facts = machine_facts()
    print("# " + "  ".join(f"{k}={v}" for k, v in facts.items()), flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# ---------------------------------------------------------------- State Council-like content

_WORDS = [
    "国务院", "办公厅", "关于", "进一步", "加强", "政务公开", "工作", "通知", "意见", "各省", "自治区", "直辖市",
    "人民政府", "各部委", "各直属机构", "现将", "有关", "事项", "如下", "坚持", "以人民为中心", "发展思想",
    "推动", "高质量发展", "深化", "改革", "优化", "营商环境", "数字政府", "建设", "规划", "落实", "责任", "统筹",
    "协调", "保障", "措施", "服务", "企业", "群众", "办事", "便利", "年度", "目标", "任务", "完善", "制度",
    "体系", "机制", "提升", "行政", "效能", "依法", "监督", "考核", "评估", "安全", "稳定", "就业", "民生",
    "乡村", "振兴", "科技", "创新", "绿色", "低碳", "转型", "区域", "协同", "开放", "合作", "信息化", "平台",
    "数据", "共享", "应用", "标准", "规范", "管理", "指导", "组织", "实施", "部门", "地方", "结合", "实际",
]
_HEADINGS = ["一、总体要求", "二、主要任务", "三、重点工作", "四、保障措施", "五、组织实施", "六、其他事项"]
_ORGS = ["国家发展改革委", "教育部", "科技部", "工业和信息化部", "财政部", "人力资源社会保障部", "自然资源部",
         "生态环境部", "住房城乡建设部", "交通运输部", "农业农村部", "商务部", "国家卫生健康委", "市场监管总局"]


def chinese_sentence(rng: random.Random, words: int = 14) -> str:
    parts = [rng.choice(_WORDS) for _ in range(words)]
    cut = rng.randrange(2, max(3, words - 1))
    return "".join(parts[:cut]) + "，" + "".join(parts[cut:]) + "。"


_P = '<p style="text-indent:2em;text-align:justify;line-height:1.75em">'
_SPAN = '<span style="font-family:仿宋_GB2312;font-size:16pt">'


def article_html(rng: random.Random, chars: int, *, images: int = 1, table_rows: int = 4) -> str:
    """A State Council-style article body as the TRS editor emits it: headed sections, indented paragraphs
    in styled spans, a task table, images and relative links, about ``chars`` characters of markup."""
    out: list[str] = [f"{_P}{_SPAN}　　{chinese_sentence(rng)}{chinese_sentence(rng)}</span></p>"]
    size = len(out[0])
    heading = 0
    while size < chars:
        block: str
        roll = rng.random()
        if roll < 0.15:
            block = (f'{_P}<span style="font-family:黑体;font-size:16pt"><strong>'
                     f"{_HEADINGS[heading % len(_HEADINGS)]}</strong></span></p>")
            heading += 1
        elif roll < 0.22 and table_rows:
            rows = "".join(
                f'<tr><td align="center" valign="middle">{_SPAN}{n}</span></td><td>{_SPAN}{chinese_sentence(rng, 8)}'
                f"</span></td><td>{_SPAN}{rng.choice(_ORGS)}</span></td><td>{_SPAN}2026年{rng.randint(1, 12)}月底前"
                "</span></td></tr>"
                for n in range(1, table_rows + 1))
            block = ('<table border="1" cellspacing="0" cellpadding="4" width="100%" style="border-collapse:collapse">'
                     "<tbody><tr><th>序号</th><th>重点任务</th><th>牵头单位</th><th>完成时限</th></tr>"
                     f"{rows}</tbody></table>")
        elif roll < 0.27 and images:
            n = rng.randrange(1, 1000)
            block = (f'<p style="text-align:center"><img src="/images/fig{n}.png" alt="附图{n}" '
                     f'width="600" border="0" style="max-width:100%"/></p>')
        elif roll < 0.31:
            n = rng.randrange(1, 1000)
            block = (f'{_P}{_SPAN}　　附件：<a href="/zhengce/content/fujian/{n}.pdf" target="_blank">'
                     f"{chinese_sentence(rng, 6)}</a></span></p>")
        else:
            block = f"{_P}{_SPAN}　　" + "".join(
                chinese_sentence(rng) for _ in range(rng.randint(2, 5))) + "</span></p>"
        out.append(block)
        size += len(block)
    return "".join(out)


def doc_title(rng: random.Random, n: int) -> str:
    kind = rng.choice(["通知", "意见", "批复", "决定", "办法"])
    topic = "".join(rng.choice(_WORDS) for _ in range(3))
    return f"国务院办公厅关于{topic}的{kind}（国办发〔2026〕{n}号）"


def state_council_feed(items: int, body_chars: int, *, seed: int = 2026,
                       base: str = "https://www.gov.cn") -> str:
    """An RSS 2.0 document like a State Council list feed: Chinese titles, escaped HTML descriptions."""
    rng = random.Random(seed)
    parts = []
    for n in range(items):
        doc_id = 7_100_000 + n
        body = article_html(rng, body_chars, images=1 + body_chars // 4000, table_rows=3 + body_chars // 3000)
        parts.append(
            "<item>"
            f"<title>{escape(doc_title(rng, n + 1))}</title>"
            f"<link>{base}/zhengce/content/202611/content_{doc_id}.htm</link>"
            f"<guid isPermaLink=\"false\">content_{doc_id}</guid>"
            "<category>国务院文件</category>"
            f"<pubDate>Wed, {(n % 28) + 1:02d} Nov 2026 {8 + n % 10:02d}:30:00 +0800</pubDate>"
            f"<description>{escape(body)}</description>"
            "</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0"><channel><title>国务院信息</title>'
        f"<link>{base}/</link><description>国务院办公厅</description><language>zh-cn</language>"
        f"{''.join(parts)}</channel></rss>")


# ---------------------------------------------------------------- the sandbox in a child process


@dataclass
class SandboxProcess:
    """The sandbox look-alikes served by ``bench/_sandbox_child.py`` in its own process (own core,
    own event loop). ``urls`` maps service name to base URL."""

    proc: asyncio.subprocess.Process
    urls: dict[str, str]
    stderr_tail: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.proc.pid)


@contextlib.asynccontextmanager
async def sandbox_process(options: dict[str, dict[str, Any]] | None = None, *,
                          plain_feeds: bool = False, upstream_hosts: int = 1) -> AsyncIterator[SandboxProcess]:
    """Start the sandbox child, yield it, and always stop it (stdin EOF, then SIGTERM, then SIGKILL)."""
    cmd = [PYTHON, str(BENCH / "_sandbox_child.py"), "--options", json.dumps(options or {}),
           "--upstream-hosts", str(upstream_hosts)]
    if plain_feeds:
        cmd.append("--plain-feeds")
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=ROOT, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        if not line:
            err = (await proc.stderr.read()).decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"sandbox child did not start:\n{err[-2000:]}")
        yield SandboxProcess(proc, json.loads(line))
    finally:
        await stop_process(proc)


async def stop_process(proc: asyncio.subprocess.Process, grace: float = 10) -> None:
    if proc.returncode is not None:
        return
    if proc.stdin is not None:
        with contextlib.suppress(Exception):
            proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), grace)
        return
    except TimeoutError:
        pass
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def run_child(args: Sequence[str], limit_s: float) -> dict[str, Any]:
    """Run ``python <args>`` (a benchmark phase in a fresh process) and return the JSON of its last
    stdout line; its stderr passes through. Killed when it outlives ``limit_s``."""
    proc = await asyncio.create_subprocess_exec(PYTHON, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), limit_s)
    except TimeoutError:
        await stop_process(proc, grace=2)
        return {"error": f"phase timed out after {limit_s:.0f} s"}
    lines = [ln for ln in out.decode(errors="replace").splitlines() if ln.strip()]
    if proc.returncode != 0 or not lines:
        return {"error": f"phase exited {proc.returncode}", "output": "\n".join(lines[-20:])}
    try:
        return json.loads(lines[-1])
    except ValueError:
        return {"error": "phase printed no JSON", "output": "\n".join(lines[-20:])}


async def sandbox_post(session: Any, url: str, payload: dict[str, Any]) -> dict[str, Any]:
    async with session.post(url, json=payload) as resp:
        resp.raise_for_status()
        data: dict[str, Any] = await resp.json()
        return data


# ---------------------------------------------------------------- hub settings


def demo_sandbox_options() -> dict[str, dict[str, Any]]:
    """Sandbox options accepting the demo credentials with no rate limits in the way."""
    from sandbox.server import DEMO_SECRETS

    return {
        "jpush": {"apps": {DEMO_SECRETS["jpush_app_key"]: DEMO_SECRETS["jpush_master_secret"]}, "quota": 10**9},
        "cms": {"secret": DEMO_SECRETS["cms_secret"], "public_url": "https://www.example.gov.cn"},
        "weibo": {"tokens": {DEMO_SECRETS["weibo_token"]: "example.gov.cn"}, "hourly_limit": 10**9},
    }


def rss_source(source_id: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"id": source_id, "name": source_id, "kind": "rss", "url": url, "interval": 60,
            "authority": "国务院办公厅", "origin": "中国政府网", **extra}


def unit_accounts(i: int, kinds: Sequence[str], urls: dict[str, str], site_dir: Path) -> list[dict[str, Any]]:
    """One unit's channel accounts, pointing at the sandbox (and a temp directory for static export)."""
    from sandbox.server import DEMO_SECRETS

    accounts: list[dict[str, Any]] = []
    for kind in kinds:
        if kind == "webhook":
            accounts.append({"id": f"u{i}-hook", "kind": "webhook", "credentials": {"secret": DEMO_SECRETS["webhook"]},
                             "options": {"url": f"{urls['webhook']}/hooks/u{i}",
                                         "lookup_url": f"{urls['webhook']}/hooks/lookup"}})
        elif kind == "static":
            accounts.append({"id": f"u{i}-site", "kind": "static",
                             "options": {"directory": str(site_dir / f"u{i}"),
                                         "public_url": f"https://u{i}.example.gov.cn/zzbz/"}})
        elif kind == "cms":
            accounts.append({"id": f"u{i}-cms", "kind": "cms", "base_url": urls["cms"],
                             "credentials": {"secret": DEMO_SECRETS["cms_secret"]}, "options": {"column": "zzbz"}})
        elif kind == "push":
            accounts.append({"id": f"u{i}-push", "kind": "push", "base_url": urls["jpush"],
                             "credentials": {"app_key": DEMO_SECRETS["jpush_app_key"],
                                             "master_secret": DEMO_SECRETS["jpush_master_secret"]}})
        else:
            raise ValueError(f"unsupported channel kind for the benchmarks: {kind}")
    return accounts


def city_units(n: int, kinds: Sequence[str], urls: dict[str, str], site_dir: Path) -> list[dict[str, Any]]:
    return [{"id": f"u{i}", "name": f"鄂州市单位{i}", "accounts": unit_accounts(i, kinds, urls, site_dir)}
            for i in range(n)]


def hub_settings(base: Path, *, sources: list[dict[str, Any]], units: list[dict[str, Any]],
                 fetch: dict[str, Any] | None = None, storage_url: str | None = None, **hub: Any) -> Any:
    from syndicator.config import Settings

    return Settings.model_validate({
        "base_dir": base,
        "hub": {"instance_id": "bench-hub", "data_dir": str(base / "var"), **hub},
        "storage": {"url": storage_url or f"sqlite:///{base / 'hub.db'}"},
        "web": {"port": 0},
        "fetch": fetch or {},
        "sources": sources,
        "units": units,
    })


def sqlite_bytes(db: Path) -> dict[str, int]:
    """Sizes of the SQLite database file and its WAL/SHM companions."""
    out = {}
    for suffix in ("", "-wal", "-shm"):
        p = Path(f"{db}{suffix}")
        out["db" + suffix.replace("-", "_")] = p.stat().st_size if p.exists() else 0
    return out


def dir_bytes(path: Path) -> tuple[int, int]:
    """(files, bytes) under a directory."""
    files = size = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                size += os.stat(os.path.join(root, name)).st_size
                files += 1
    return files, size


@contextlib.asynccontextmanager
async def pg_schema(url: str) -> AsyncIterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards (as tests/conftest.py)."""
    import uuid

    import asyncpg

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(url)
    await conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()


def _size(arg: Any) -> int:
    """How big a metered argument is: a collection's length, a claim Capacity's closed accounts."""
    return len(arg.closed) if hasattr(arg, "closed") else len(arg)


class CallMeter:
    """Counts calls and wall time of methods patched on one object (measurement only)."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        self.extra: dict[str, float] = {}

    def _add(self, name: str, t0: float) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0

    def wrap_async(self, obj: Any, name: str, *, count_result: bool = False, size_arg: int | None = None) -> None:
        orig = getattr(obj, name)

        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            result = await orig(*args, **kwargs)
            self._add(name, t0)
            if count_result:
                self.extra[name + ".results"] = self.extra.get(name + ".results", 0) + len(result)
            if size_arg is not None:
                self.extra[name + ".arg_size"] = self.extra.get(name + ".arg_size", 0) + _size(args[size_arg])
            return result

        setattr(obj, name, wrapped)

    def wrap_sync(self, obj: Any, name: str) -> None:
        orig = getattr(obj, name)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            result = orig(*args, **kwargs)
            self._add(name, t0)
            return result

        setattr(obj, name, wrapped)

    def summary(self) -> dict[str, Any]:
        return {"calls": self.calls, "seconds": self.seconds, "extra": self.extra}


# ---------------------------------------------------------------- profiling


@contextlib.contextmanager
def maybe_profile(path: str | None, *, top: int = 30) -> Iterator[None]:
    """cProfile the block (main thread only: work in asyncio.to_thread and aiosqlite's thread is not
    seen) and print the top functions by own time and by cumulative time to stderr."""
    if not path:
        yield
        return
    prof = cProfile.Profile()
    prof.enable()
    try:
        yield
    finally:
        prof.disable()
        prof.dump_stats(path)
        for key in ("tottime", "cumulative"):
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(key).print_stats(top)
            print(f"--- profile by {key} ({path}) ---\n{buf.getvalue()}", file=sys.stderr)


def fmt(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"

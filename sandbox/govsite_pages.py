"""Markup of the gov.cn-like and Hubei-portal-like pages served by ``sandbox.govsite``.

Written for this project to reproduce the structures public scrapers record on the real sites
(docs/upstream.md names each source), not copied from them: gov.cn list boxes; 最新政策 as a
JavaScript shell over ``ZUIXINZHENGCE.json``; the policy library's ``searchVO.catMap`` with a null
top-level ``listVO`` and some null ``pubtimeStr``; Hubei TRS lists with truncated link text, a
second ``[解读]`` / ``[图解]`` link and a ``pageControl`` pager; TRS article metas.
"""

from __future__ import annotations

from html import escape

from core.clock import SHANGHAI
from sandbox.upstream import Doc

_HEAD = ('<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="{charset}">'
         '<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
         '<link rel="stylesheet" href="/images/style.css"></head>\n<body>\n'
         '<div class="header"><div class="logo"><a href="/">中国政府网</a></div></div>\n')
_FOOT = '<div class="footer">主办单位：国务院办公厅　运行维护单位：中国政府网运行中心</div>\n</body></html>'


def _date(doc: Doc, fmt: str = "%Y-%m-%d") -> str:
    return doc.published_at.astimezone(SHANGHAI).strftime(fmt)


def gov_link(doc: Doc, depth: int) -> str:
    """gov.cn lists link articles relative to the list's own folder."""
    return "../" * depth + doc.path.lstrip("/")


def pushinfo_page(docs: list[Doc], charset: str = "utf-8") -> str:
    """国务院信息 (reprint list): ``.news_box .list li``, a ``li.line`` rule after every fifth."""
    rows: list[str] = []
    for i, doc in enumerate(docs, start=1):
        rows.append(f'<li><h4><a href="{escape(gov_link(doc, 2))}" target="_blank">{escape(doc.title)}</a>'
                    f'<span class="date">{_date(doc)}</span></h4></li>')
        if i % 5 == 0:
            rows.append('<li class="line"></li>')
    return (_HEAD.format(title="国务院信息_中国政府网", charset=charset)
            + '<div class="main"><div class="BreadcrumbNav"><a href="/">首页</a> &gt; 国务院信息</div>\n'
            '<div class="news_box"><div class="list list_1 list_2"><ul>\n' + "\n".join(rows)
            + "\n</ul></div></div></div>\n" + _FOOT)


def zuixin_page(charset: str = "utf-8") -> str:
    """最新政策: a JavaScript shell. The list ``ul#list-1-ajax-id`` is empty in the HTML and filled in
    the browser from ``./ZUIXINZHENGCE.json`` (see docs/upstream.md): an HTML reader finds nothing."""
    script = ('$(function(){$.ajax({url:"./ZUIXINZHENGCE.json",dataType:"json",success:function(d){'
              'var h="";for(var i=0;i<d.length;i++){h+="<li><h4><a href=\'"+d[i].URL+"\'>"+d[i].TITLE+'
              '"</a><span class=\'date\'>"+d[i].DOCRELPUBTIME+"</span></h4></li>";}'
              '$("#list-1-ajax-id").html(h);}});});')
    return (_HEAD.format(title="最新政策_中国政府网", charset=charset)
            + '<div class="main"><div class="channel_tab"><a class="cur" href="./">最新</a></div>\n'
            '<div class="list list_1 list_2"><ul id="list-1-ajax-id"></ul></div>\n'
            f'<script src="/images/jquery.min.js"></script><script>{script}</script></div>\n' + _FOOT)


def zuixin_items(docs: list[Doc], base: str) -> list[dict[str, str]]:
    """``ZUIXINZHENGCE.json``: an array of TITLE, SUB_TITLE, URL (absolute), DOCRELPUBTIME."""
    return [{"TITLE": d.title, "SUB_TITLE": "", "URL": base + d.path, "DOCRELPUBTIME": _date(d)} for d in docs]


def jiedu_items(docs: list[Doc], base: str) -> list[dict[str, str]]:
    return [{"TITLE": d.title, "URL": base + d.path, "DOCRELPUBTIME": _date(d), "SUB_TITLE": "",
             "SOURCE": "中国政府网"} for d in docs]


def library_item(doc: Doc, base: str, query: str) -> dict[str, object]:
    """One policy library hit; matched words wrapped in ``<em>`` like the real search."""
    title = escape(doc.title, quote=False)
    if query:
        title = title.replace(escape(query, quote=False), f"<em>{escape(query, quote=False)}</em>")
    office = "国务院办公厅" if "办公厅" in doc.title else "国务院"
    stamp = int(doc.published_at.timestamp() * 1000)
    return {
        "id": doc.id, "title": title, "url": base + doc.path, "pubtime": stamp, "ptime": stamp,
        # Seen null on real hits while ptime (ms) is set (docs/upstream.md): every third doc here.
        "pubtimeStr": None if doc.id % 3 == 0 else _date(doc, "%Y.%m.%d"), "puborg": office,
        "pcode": f"{'国办发' if office == '国务院办公厅' else '国发'}〔{_date(doc, '%Y')}〕{doc.id % 100}号",
        "childtype": doc.category, "summary": "",
    }


HUBEI_COLUMNS = {"ezf": "鄂政发", "ezh": "鄂政函", "ezbf": "鄂政办发", "szfl": "省政府令", "ezd": "鄂政电",
                 "qt": "其他文件"}


def hubei_path(doc: Doc, column: str) -> str:
    """TRS article URL: ``/zfwj/ezf/202611/t20261125_7000001.shtml``."""
    return f"/zfwj/{column}/{_date(doc, '%Y%m')}/t{_date(doc, '%Y%m%d')}_{doc.id}.shtml"


# The portal's pager: pageControl(total pages, current, "index", "shtml") draws #pages-nav with
# li.active on the current page (MageGojo/drission-rs examples/sites/hubei_zfwj_protocol.rs).
_PAGER_JS = (
    "<script>function pageControl(count,cur,prefix,suffix){var h='';"
    "for(var i=0;i<count;i++){var f=i==0?prefix+'.'+suffix:prefix+'_'+i+'.'+suffix;"
    "h+=i==cur?'<li class=\"active\"><a href=\"'+f+'\">'+(i+1)+'</a></li>':'<li><a href=\"'+f+'\">'+(i+1)+'</a></li>';}"
    "if(cur+1<count){h+='<li><a aria-label=\"Next\" href=\"'+prefix+'_'+(cur+1)+'.'+suffix+'\">下一页</a></li>';}"
    "var d=document.getElementById('pages-nav');if(d){d.innerHTML='<ul class=\"hbgov-pagination\">'+h+'</ul>';}}"
    "</script>"
)
HUBEI_SHORT = 24                               # list link text is cut to this many characters + "..."


def _trs_meta(charset: str) -> str:
    """TRS templates declare the charset in an http-equiv meta, "gb2312" for their GBK pages."""
    label = "gb2312" if charset.lower() in ("gbk", "gb2312", "gb18030") else charset
    return f'<meta http-equiv="Content-Type" content="text/html; charset={label}">'


def _hubei_row(doc: Doc, column: str) -> str:
    """One list item: the first ``a`` holds the full title in ``title`` (its text cut with "..."),
    a ``span`` the date; every other doc has a second ``[解读]`` / ``[图解]`` link that is not an item."""
    href = "./" + hubei_path(doc, column).split("/", 3)[3]
    text = doc.title if len(doc.title) <= HUBEI_SHORT else doc.title[:HUBEI_SHORT] + "..."
    extra = ""
    if doc.id % 2 == 0:
        label = "[图解]" if doc.id % 4 == 0 else "[解读]"
        extra = f' <a href="/zxjd/{_date(doc, "%Y%m")}/t{_date(doc, "%Y%m%d")}_{doc.id + 1}.shtml">{label}</a>'
    return (f'<li><div><a href="{escape(href)}" target="_blank" title="{escape(doc.title)}">{escape(text)}</a>'
            f'{extra}</div><span>{_date(doc)}</span></li>')


def hubei_list_page(docs: list[Doc], column: str, page: int, pages: int, total: int, charset: str = "gbk") -> str:
    """TRS list as public scrapers of the portal read it: ``div.hbgov-bfc-block`` holding
    ``ul.hbgov-newslist-itemheight-18px > li``, pager ``#pages-nav`` drawn by ``pageControl``."""
    name = HUBEI_COLUMNS.get(column, column)
    rows = [_hubei_row(d, column) for d in docs]
    return (
        f'<!DOCTYPE html>\n<html><head>{_trs_meta(charset)}'
        f'<title>{name}_政府文件_湖北省人民政府门户网站</title>{_PAGER_JS}</head>\n<body>\n'
        '<div class="hbgov-header"><ul class="hbgov-nav"><li><a href="/">首页</a></li>'
        '<li><a href="/zfwj/">政府文件</a></li><li><a href="/hdjl/">互动交流</a></li></ul></div>\n'
        '<div class="hbgov-main"><div class="hbgov-index-bar"><a href="/">首页</a> &gt; '
        f'<a href="/zfwj/">政府文件</a> &gt; {name}</div>\n'
        '<div class="hbgov-bfc-block"><ul class="hbgov-newslist-itemheight-18px">\n' + "\n".join(rows) + "\n</ul>\n"
        f'<div id="pages-nav"></div><script>pageControl({pages}, {page}, "index", "shtml");</script>'
        f"<p>共 {total} 条</p></div></div>\n"
        '<div class="hbgov-footer">湖北省人民政府办公厅主办</div>\n</body></html>'
    )


def hubei_article_page(doc: Doc, column: str, charset: str = "gbk") -> str:
    """TRS article: metas ArticleTitle / PubDate / ContentSource, info table, ``div.TRS_Editor``."""
    when = doc.published_at.astimezone(SHANGHAI)
    title = escape(doc.title)
    return (
        f'<!DOCTYPE html>\n<html><head>{_trs_meta(charset)}'
        f'<meta name="ArticleTitle" content="{title}"><meta name="PubDate" content="{when:%Y-%m-%d %H:%M}">'
        f'<meta name="ContentSource" content="湖北省人民政府办公厅"><meta name="contentid" content="{doc.id}">'
        f'<meta name="ColumnName" content="{HUBEI_COLUMNS.get(column, column)}">'
        f"<title>{title}_湖北省人民政府门户网站</title></head>\n<body>\n"
        '<div class="hbgov-main"><table class="hbgov-article-info">'
        f'<tr><th>索引号</th><td>011043940/{when:%Y}-{doc.id % 100000:05d}</td>'
        f'<th>文号</th><td>{HUBEI_COLUMNS.get(column, column)}〔{when:%Y}〕{doc.id % 100}号</td></tr>'
        f"<tr><th>发文机关</th><td>湖北省人民政府</td><th>发布日期</th><td>{when:%Y年%m月%d日}</td></tr></table>\n"
        f'<div class="hbgov-article-title"><h2>{title}</h2></div>\n'
        '<div class="hbgov-article-content"><div class="TRS_Editor">'
        f'<div class="TRS_UEDITOR trs_paper_default">{doc.body_html}</div></div></div>\n'
        "</div>\n</body></html>"
    )


def gate_page(sid: str, *, solvable: bool = True) -> str:
    """The 412 answer: a script derives the clearance cookie from the sid cookie, then reloads.
    An unsolvable page (to exercise "cookies stopped working") sets nothing and stays."""
    script = (
        f'(function(){{var s="{sid}",h=7;for(var i=0;i<s.length;i++){{h=(h*31+s.charCodeAt(i))%1000000007;}}'
        'document.cookie="__gate_clr="+s+"."+h+"; path=/";setTimeout(function(){location.reload();},50);})();'
    ) if solvable else "/* challenge withheld */"
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"><title></title></head><body>'
            f"<script>{script}</script></body></html>")


def denied_page(path: str) -> str:
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>访问被拒绝</title></head><body>'
            f"<h1>403 Forbidden</h1><p>您的访问请求已被拦截（{escape(path)}）。</p></body></html>")

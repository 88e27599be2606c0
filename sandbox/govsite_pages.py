"""Markup of the gov.cn-like and Hubei-portal-like pages served by ``sandbox.govsite``.

Written for this project to reproduce the structures the presets rely on (gov.cn list boxes,
TRS CMS lists with a script-written pager, TRS article metas), not copied from the real sites.
"""

from __future__ import annotations

from html import escape

from sandbox.upstream import Doc
from syndicator.clock import SHANGHAI

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


def zuixin_page(docs: list[Doc], charset: str = "utf-8") -> str:
    """最新政策: ``h4 a`` links with the date beside them; titles over 40 characters are
    shortened in the text and given in full in ``title``, as CMS list templates do."""
    rows = []
    for doc in docs:
        short = doc.title if len(doc.title) <= 40 else doc.title[:38] + "..."
        rows.append(f'<li><h4><a href="{escape(gov_link(doc, 2))}" target="_blank" title="{escape(doc.title)}">'
                    f'{escape(short)}</a><span class="date">{_date(doc)}</span></h4></li>')
    return (_HEAD.format(title="最新政策_中国政府网", charset=charset)
            + '<div class="main"><div class="channel_tab"><a class="cur" href="./">最新</a></div>\n'
            '<div class="list list_1 list_2" id="list"><ul>\n' + "\n".join(rows)
            + '\n</ul></div><div class="more"><a href="../">更多政策</a></div></div>\n' + _FOOT)


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
        "pubtimeStr": _date(doc, "%Y.%m.%d"), "puborg": office,
        "pcode": f"{'国办发' if office == '国务院办公厅' else '国发'}〔{_date(doc, '%Y')}〕{doc.id % 100}号",
        "childtype": doc.category, "summary": "",
    }


HUBEI_COLUMNS = {"ezf": "鄂政发", "ezh": "鄂政函", "ezbf": "鄂政办发", "szfl": "省政府令", "ezd": "鄂政电",
                 "qt": "其他文件"}


def hubei_path(doc: Doc, column: str) -> str:
    """TRS article URL: ``/zfwj/ezf/202611/t20261125_7000001.shtml``."""
    return f"/zfwj/{column}/{_date(doc, '%Y%m')}/t{_date(doc, '%Y%m%d')}_{doc.id}.shtml"


_PAGER_JS = (
    "<script>function createPageHTML(el,count,cur,prefix,suffix,total){var h='';"
    "for(var i=0;i<count;i++){var f=i==0?prefix+'.'+suffix:prefix+'_'+i+'.'+suffix;"
    "h+=i==cur?'<span class=\"current\">'+(i+1)+'</span>':'<a href=\"'+f+'\">'+(i+1)+'</a>';}"
    "if(cur+1<count){h+='<a class=\"next\" href=\"'+prefix+'_'+(cur+1)+'.'+suffix+'\">下一页</a>';}"
    "var d=document.getElementById(el);if(d){d.innerHTML=h+'<span>共'+total+'条</span>';}}</script>"
)


def _trs_meta(charset: str) -> str:
    """TRS templates declare the charset in an http-equiv meta, "gb2312" for their GBK pages."""
    label = "gb2312" if charset.lower() in ("gbk", "gb2312", "gb18030") else charset
    return f'<meta http-equiv="Content-Type" content="text/html; charset={label}">'


def hubei_list_page(docs: list[Doc], column: str, page: int, pages: int, total: int, charset: str = "gbk") -> str:
    """TRS list: ``ul.list-t li`` (link + ``span``), pager drawn by ``createPageHTML`` in script."""
    name = HUBEI_COLUMNS.get(column, column)
    rows = [f'<li><a href="./{hubei_path(d, column).split("/", 3)[3]}" target="_blank" title="{escape(d.title)}">'
            f'{escape(d.title)}</a><span>{_date(d)}</span></li>' for d in docs]
    return (
        f'<!DOCTYPE html>\n<html><head>{_trs_meta(charset)}'
        f'<title>{name}_政府文件_湖北省人民政府门户网站</title>{_PAGER_JS}</head>\n<body>\n'
        '<div class="hbgov-header"><a href="/">湖北省人民政府门户网站</a></div>\n'
        '<div class="hbgov-main"><div class="location">当前位置：<a href="/">首页</a> &gt; '
        f'政府文件 &gt; {name}</div>\n'
        '<div class="hbgov-zfwj-list"><ul class="list-t">\n' + "\n".join(rows) + "\n</ul>\n"
        f'<div class="page" id="page_div"></div><script>createPageHTML("page_div", {pages}, {page}, '
        f'"index", "shtml", {total});</script></div></div>\n'
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

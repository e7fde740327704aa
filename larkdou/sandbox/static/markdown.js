// Lark card markdown, rendered for the sandbox page: code blocks, headings, lists, quotes, tables,
// bold, italics, strikethrough, inline code, links, <font color>, <br>, HTML entities.
// SAFE by construction: every node is made with createElement/textContent (never innerHTML), links
// are followed only for http and https, and any other HTML tag is shown as the text it is.
"use strict";

const LarkMarkdown = (() => {
  const ENTITIES = { nbsp: "\u00a0", ensp: "\u2002", emsp: "\u2003", sim: "~", lt: "<", gt: ">",
                     amp: "&", quot: "\"", apos: "'" };
  const COLORS = new Set(["grey", "gray", "red", "green", "blue", "orange", "yellow", "purple", "violet",
                          "carmine", "wathet", "turquoise", "lime", "indigo", "neutral"]);

  const node = el;

  function decode(text) {
    return text.replace(/&(#\d{1,7}|#x[0-9a-f]{1,6}|[a-z]{2,8});/gi, (all, name) => {
      if (name[0] === "#") {
        const code = name[1] === "x" || name[1] === "X" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : all;
      }
      return ENTITIES[name.toLowerCase()] ?? all;
    });
  }

  function safeUrl(url) {
    return /^https?:\/\/[^\s]+$/i.test(url) ? url : null;
  }

  // ---- inline ----------------------------------------------------------------------------------
  const INLINE = [
    // [regex anchored with y (sticky), builder(match, parent)]
    [/(`+)([\s\S]*?[^`])\1(?!`)/y, (m, out) => out.append(node("code", "inline-code", m[2].replace(/^ (.*) $/, "$1")))],
    [/\\([!-/:-@[-`{-~])/y, (m, out) => out.append(m[1])],
    [/\*\*(?=\S)([\s\S]+?)(?<=\S)\*\*|__(?=\S)([\s\S]+?)(?<=\S)__/y, (m, out) => wrap("strong", m[1] ?? m[2], out)],
    [/~~(?=\S)([\s\S]+?)(?<=\S)~~/y, (m, out) => wrap("del", m[1], out)],
    [/\*(?=[^\s*])([\s\S]+?)(?<=[^\s*])\*|_(?=[^\s_])([\s\S]+?)(?<=[^\s_])_(?!\w)/y, (m, out) => wrap("em", m[1] ?? m[2], out)],
    [/!?\[([^\[\]]*)\]\(\s*([^\s()]*(?:\([^\s()]*\)[^\s()]*)*)(?:\s+"[^"]*")?\s*\)/y, link],
    [/<br\s*\/?>/iy, (m, out) => out.append(node("br"))],
    [/<font\s+color=['"]?([\w-]+)['"]?\s*>([\s\S]*?)<\/font>/iy, (m, out) => {
      const color = m[1].toLowerCase().replace(/-\d+$/, "");
      wrap("span", m[2], out, COLORS.has(color) ? `font-${color === "gray" ? "grey" : color}` : "");
    }],
    [/<text_tag\s+color=['"]?([\w-]+)['"]?\s*>([\s\S]*?)<\/text_tag>/iy, (m, out) => wrap("span", m[2], out, "text-tag")],
    [/<at\s+(?:id|user_id)=['"]?([\w-]+)['"]?\s*>\s*<\/at>/iy, (m, out) => out.append(node("span", "mention", m[1] === "all" ? "@所有人" : "@用户"))],
    [/<(a|link)\s[^>]*?(?:href|url)=['"]([^'"]+)['"][^>]*>([\s\S]*?)<\/\1>/iy, (m, out) => link([null, m[3] || m[2], m[2]], out)],
  ];

  function wrap(tag, inner, out, cls) {
    const n = node(tag, cls || "");
    renderInline(inner, n);
    out.append(n);
  }

  function link(m, out) {
    const url = safeUrl(decode(m[2]));
    const label = m[1] || m[2];
    if (!url) {
      renderInline(label, out);
      return;
    }
    const a = node("a");
    a.href = url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    renderInline(label, a);
    out.append(a);
  }

  function renderInline(text, out) {
    let plain = "";
    let i = 0;
    const flush = () => {
      if (plain) out.append(decode(plain));
      plain = "";
    };
    outer: while (i < text.length) {
      const c = text[i];
      if ("`\\*_~![<".includes(c)) {
        for (const [re, build] of INLINE) {
          re.lastIndex = i;
          const m = re.exec(text);
          if (m) {
            flush();
            build(m, out);
            i = re.lastIndex;
            continue outer;
          }
        }
      }
      plain += c;
      i += 1;
    }
    flush();
    return out;
  }

  // ---- blocks ----------------------------------------------------------------------------------
  const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)/;
  const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*#*[ \t]*$/;
  const HR = /^ {0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,}|<hr\s*\/?>)$/i;
  const ITEM = /^( *)([-*+]|\d{1,9}[.)])[ \t]+(.*)$/;
  const TABLE_RULE = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;

  function cells(line) {
    return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((s) => s.trim());
  }

  function render(src) {
    const frag = document.createDocumentFragment();
    const lines = String(src).replace(/\r\n?/g, "\n").split("\n");
    let para = [];
    const endPara = () => {
      if (!para.length) return;
      const p = node("p");
      para.forEach((line, k) => {
        if (k) p.append(node("br"));
        renderInline(line, p);
      });
      frag.append(p);
      para = [];
    };
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      let m;
      if ((m = FENCE.exec(line))) {
        endPara();
        const fence = m[1];
        const code = [];
        i += 1;
        while (i < lines.length && !(lines[i].trim().startsWith(fence) && /^[`~]+$/.test(lines[i].trim()))) {
          code.push(lines[i]);
          i += 1;
        }
        const pre = node("pre", "code-block");
        const codeNode = node("code", "", code.join("\n"));
        if (m[2]) codeNode.dataset.lang = m[2];
        pre.append(codeNode);
        frag.append(pre);
        i += 1;
      } else if (!line.trim()) {
        endPara();
        i += 1;
      } else if ((m = HEADING.exec(line))) {
        endPara();
        frag.append(renderInline(m[2] || "", node(`h${m[1].length}`, "md-heading")));
        i += 1;
      } else if (HR.test(line)) {
        endPara();
        frag.append(node("hr"));
        i += 1;
      } else if (/^ {0,3}>/.test(line)) {
        endPara();
        const quoted = [];
        while (i < lines.length && /^ {0,3}>/.test(lines[i])) quoted.push(lines[i++].replace(/^ {0,3}> ?/, ""));
        const q = node("blockquote");
        q.append(render(quoted.join("\n")));
        frag.append(q);
      } else if (line.includes("|") && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1]) && lines[i + 1].includes("-")) {
        endPara();
        const table = node("table");
        const head = node("tr");
        cells(line).forEach((c) => head.append(renderInline(c, node("th"))));
        const thead = node("thead");
        thead.append(head);
        table.append(thead);
        const body = node("tbody");
        i += 2;
        while (i < lines.length && lines[i].includes("|") && lines[i].trim()) {
          const row = node("tr");
          cells(lines[i]).forEach((c) => row.append(renderInline(c, node("td"))));
          body.append(row);
          i += 1;
        }
        table.append(body);
        frag.append(table);
      } else if (ITEM.test(line) && !(para.length && !/^\s*(?:[-*+]|1[.)])\s/.test(line))) {
        endPara();
        i = renderList(lines, i, frag);
      } else if (/^ {4}/.test(line) && !para.length) {
        const code = [];
        while (i < lines.length && (/^ {4}/.test(lines[i]) || !lines[i].trim())) code.push(lines[i++].slice(4));
        while (code.length && !code[code.length - 1].trim()) code.pop();
        const pre = node("pre", "code-block");
        pre.append(node("code", "", code.join("\n")));
        frag.append(pre);
      } else {
        para.push(line);
        i += 1;
      }
    }
    endPara();
    return frag;
  }

  // nested lists by indentation: deeper items go into the previous item's sub-list
  function renderList(lines, i, frag) {
    const stack = []; // [{indent, list}]
    while (i < lines.length) {
      const m = ITEM.exec(lines[i]);
      if (!m) {
        if (lines[i].trim() && stack.length && /^\s+/.test(lines[i])) { // continuation line of an item
          const last = stack[stack.length - 1].list.lastElementChild;
          last.append(node("br"));
          renderInline(lines[i].trim(), last);
          i += 1;
          continue;
        }
        break;
      }
      const indent = m[1].length;
      const ordered = /\d/.test(m[2]);
      while (stack.length && indent < stack[stack.length - 1].indent) stack.pop();
      let top = stack[stack.length - 1];
      if (top && indent === top.indent && ordered !== top.ordered) { // another kind of list begins
        stack.pop();
        top = stack[stack.length - 1];
      }
      if (!top || indent > top.indent) {
        const list = node(ordered ? "ol" : "ul");
        if (ordered) list.start = parseInt(m[2], 10);
        (top ? top.list.lastElementChild : frag).append(list);
        top = { indent, list, ordered };
        stack.push(top);
      }
      top.list.append(renderInline(m[3], node("li")));
      i += 1;
    }
    return i;
  }

  return { render, renderInline, decode, safeUrl };
})();

// Interactive cards (JSON 1.0 and 2.0) as Feishu shows them: a coloured header with the title, then
// the elements in order. Markdown goes through LarkMarkdown; anything the page does not know is
// shown as its tag name, never as HTML.
"use strict";

const LarkCard = (() => {
  const TEMPLATES = new Set(["blue", "wathet", "turquoise", "green", "yellow", "orange", "red", "carmine",
                             "violet", "purple", "indigo", "grey", "default"]);

  const node = el;

  function text(obj) {
    // a text object {tag: plain_text|lark_md, content}
    if (!obj || typeof obj.content !== "string") return null;
    if (obj.tag === "lark_md") {
      const d = node("div", "md");
      d.append(LarkMarkdown.render(obj.content));
      return d;
    }
    return node("div", "plain", obj.content);
  }

  function element(e) {
    if (!e || typeof e !== "object") return node("div", "unsupported", "[?]");
    switch (e.tag) {
      case "markdown": {
        const d = node("div", e.text_size === "notation" ? "md notation" : "md");
        if (e.element_id) d.dataset.elementId = String(e.element_id);
        d.append(LarkMarkdown.render(typeof e.content === "string" ? e.content : ""));
        return d;
      }
      case "hr":
        return node("hr", "card-hr");
      case "div":
        return text(e.text) || node("div", "plain", "");
      case "plain_text":
        return node("div", "plain", typeof e.content === "string" ? e.content : "");
      case "note": {
        const d = node("div", "md notation");
        (e.elements || []).forEach((x) => { const t = text(x); if (t) d.append(t); });
        return d;
      }
      case "column_set": {
        const row = node("div", "columns");
        (e.columns || []).forEach((col) => {
          const c = node("div", "column");
          (col.elements || []).forEach((x) => c.append(element(x)));
          row.append(c);
        });
        return row;
      }
      default:
        return node("div", "unsupported", `[${String(e.tag)}]`);
    }
  }

  function render(card) {
    const box = node("div", "card");
    const title = card && card.header && card.header.title;
    if (title && typeof title.content === "string") {
      const template = TEMPLATES.has(card.header.template) ? card.header.template : "default";
      box.append(node("div", `card-header tpl-${template}`, title.content));
    }
    const elements = card && card.schema === "2.0" ? (card.body || {}).elements : (card || {}).elements;
    const body = node("div", "card-body");
    (Array.isArray(elements) ? elements : []).forEach((e) => body.append(element(e)));
    box.append(body);
    return box;
  }

  return { render };
})();

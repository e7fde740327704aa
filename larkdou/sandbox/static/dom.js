// The one DOM helper of the sandbox page: an element with a class and text (textContent: never HTML).
"use strict";

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

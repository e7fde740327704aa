// The sandbox page: chats as Feishu shows them, a box to post as a chosen user, live updates (SSE).
"use strict";

const $ = (id) => document.getElementById(id);
let info = null;
let currentChat = null;

async function api(path, options) {
  const resp = await fetch(path, options);
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(body.error || body.msg || `HTTP ${resp.status}`);
  return body;
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function timeOf(ms) {
  return new Date(Number(ms)).toLocaleTimeString();
}

async function loadChats() {
  const { items } = await api("/sandbox/chats");
  const list = $("chats");
  list.replaceChildren();
  for (const chat of items) {
    const li = el("li", chat.chat_id === currentChat ? "active" : "", chat.name);
    li.dataset.chatId = chat.chat_id;
    li.title = `${chat.chat_type} · ${chat.chat_id}`;
    li.onclick = () => selectChat(chat.chat_id);
    list.append(li);
  }
}

function selectChat(chatId) {
  currentChat = chatId;
  location.hash = chatId;
  for (const li of $("chats").children) li.classList.toggle("active", li.dataset.chatId === chatId);
  loadMessages();
}

function renderMessage(m, byId) {
  const row = el("div", `message ${m.sender.type}`);
  row.dataset.messageId = m.message_id;
  row.dataset.senderType = m.sender.type;
  if (m.deleted) {
    row.classList.add("recalled");
    row.append(el("span", "notice", `${m.sender.name} 撤回了一条消息`));
    return row;
  }
  row.append(el("div", "avatar", m.sender.name.slice(0, 1).toUpperCase()));
  const col = el("div", "col");
  const sender = el("div", "sender", m.sender.name);
  sender.append(el("span", "time", timeOf(m.create_time)));
  col.append(sender);
  const bubble = el("div", "bubble");
  if (m.parent_id) {
    const parent = byId.get(m.parent_id);
    const quoted = !parent ? "原消息不可见" : parent.deleted ? "原消息已撤回" : `${parent.sender.name}: ${parent.text}`;
    bubble.append(el("div", "quote", `回复 ${quoted}`));
  }
  bubble.append(el("div", "text", m.text));
  col.append(bubble);
  row.append(col);
  return row;
}

async function loadMessages() {
  if (!currentChat) return;
  const chatId = currentChat;
  const { chat, items } = await api(`/sandbox/chats/${encodeURIComponent(chatId)}/messages`);
  if (chatId !== currentChat) return;
  $("chat-name").textContent = chat.name;
  $("chat-meta").textContent = `${chat.chat_type} · ${chat.chat_id}`;
  const byId = new Map(items.map((m) => [m.message_id, m]));
  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  box.replaceChildren(...items.map((m) => renderMessage(m, byId)));
  if (atBottom) box.scrollTop = box.scrollHeight;
}

async function send(event) {
  event.preventDefault();
  $("error").textContent = "";
  const chat = (await api("/sandbox/chats")).items.find((c) => c.chat_id === currentChat);
  try {
    await api(`/sandbox/chats/${encodeURIComponent(currentChat)}/messages`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        user: $("user").value.trim(), text: $("text").value,
        mention_bot: $("mention-bot").checked, chat_type: chat ? chat.chat_type : "group",
      }),
    });
    $("text").value = "";
  } catch (err) {
    $("error").textContent = err.message;
  }
  loadMessages();
}

async function newChat(event) {
  event.preventDefault();
  try {
    const chat = await api("/sandbox/chats", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: $("new-chat-name").value }),
    });
    $("new-chat-name").value = "";
    await loadChats();
    selectChat(chat.chat_id);
  } catch (err) {
    $("error").textContent = err.message;
  }
}

function listen() {
  const source = new EventSource("/sandbox/stream");
  source.onopen = () => { $("live").classList.add("on"); loadChats(); loadMessages(); };
  source.onerror = () => $("live").classList.remove("on");
  source.onmessage = (e) => {
    const change = JSON.parse(e.data);
    if (change.kind === "chat") loadChats();
    if (change.chat_id === currentChat) loadMessages();
  };
}

async function main() {
  info = await api("/sandbox/info");
  for (const node of document.querySelectorAll(".bot-name")) node.textContent = info.bot.name;
  $("bot-line").textContent = `机器人 ${info.bot.name} · ${info.app_id}`;
  currentChat = location.hash.slice(1) || info.default_chat_id;
  await loadChats();
  selectChat(currentChat);
  $("composer").onsubmit = send;
  $("new-chat").onsubmit = newChat;
  listen();
}

main().catch((err) => { $("error").textContent = err.message; });

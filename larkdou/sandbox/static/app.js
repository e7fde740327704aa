// The sandbox page: chats as Feishu shows them (text, cards rendered from their markdown, quotes,
// threads), a box to post as a chosen user (optionally replying to a message or in its thread),
// and live updates (SSE): new messages, card updates and recalls appear without a reload.
"use strict";

const $ = (id) => document.getElementById(id);
let info = null;
let currentChat = null;
let replyTo = null; // message id the main composer replies to (a quote)
let threadRoot = null; // message id whose thread is open in the side panel
let byId = new Map();

async function api(path, options) {
  const resp = await fetch(path, options);
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(body.error || body.msg || `HTTP ${resp.status}`);
  return body;
}

function timeOf(ms) {
  return new Date(Number(ms)).toLocaleTimeString();
}

function isThreadReply(m) {
  return Boolean(m.thread_id && m.root_id && m.root_id !== m.message_id);
}

function summary(m) {
  if (!m) return "原消息不可见";
  if (m.deleted) return "原消息已撤回";
  const text = m.msg_type === "interactive" ? cardTitle(m) : m.text;
  return `${m.sender.name}: ${text}`;
}

function cardTitle(m) {
  try {
    const card = JSON.parse(m.content);
    return (card.header && card.header.title && card.header.title.content) || "[卡片]";
  } catch (err) {
    return "[卡片]";
  }
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
  setReply(null);
  openThread(null);
  for (const li of $("chats").children) li.classList.toggle("active", li.dataset.chatId === chatId);
  loadMessages();
}

function content(m) {
  if (m.msg_type === "interactive") {
    try {
      return LarkCard.render(JSON.parse(m.content));
    } catch (err) {
      return el("div", "text", m.text);
    }
  }
  return el("div", "text", m.text);
}

function renderMessage(m, replies, inThread) {
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
  const card = m.msg_type === "interactive";
  const bubble = el("div", card ? "bubble card-bubble" : "bubble");
  if (m.parent_id && !(inThread || isThreadReply(m))) {
    bubble.append(el("div", "quote", `回复 ${summary(byId.get(m.parent_id))}`));
  }
  bubble.append(content(m));
  col.append(bubble);
  const actions = el("div", "actions");
  const quote = el("button", "link reply-action", "回复");
  quote.onclick = () => setReply(m.message_id);
  const thread = el("button", "link thread-action", "话题回复");
  // a thread belongs to the root of the reply tree, as the sandbox files replies in it (and Lark does)
  thread.onclick = () => openThread(m.root_id || m.message_id);
  actions.append(quote, thread);
  if (!inThread && replies > 0) {
    const open = el("button", "link thread-link", `${replies} 条回复 ›`);
    open.onclick = () => openThread(m.message_id);
    actions.prepend(open);
  }
  col.append(actions);
  row.append(col);
  return row;
}

let loading = false;
let again = false;

// one load at a time, in order; changes that arrive meanwhile cause one more load afterwards
async function loadMessages() {
  if (loading) {
    again = true;
    return;
  }
  loading = true;
  try {
    do {
      again = false;
      await loadOnce();
    } while (again);
  } finally {
    loading = false;
  }
}

async function loadOnce() {
  if (!currentChat) return;
  const chatId = currentChat;
  const { chat, items } = await api(`/sandbox/chats/${encodeURIComponent(chatId)}/messages`);
  if (chatId !== currentChat) return;
  $("chat-name").textContent = chat.name;
  $("chat-meta").textContent = `${chat.chat_type} · ${chat.chat_id}`;
  byId = new Map(items.map((m) => [m.message_id, m]));
  const replies = new Map();
  for (const m of items) if (isThreadReply(m)) replies.set(m.root_id, (replies.get(m.root_id) || 0) + 1);
  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  box.replaceChildren(...items.filter((m) => !isThreadReply(m))
    .map((m) => renderMessage(m, replies.get(m.message_id) || 0, false)));
  if (atBottom) box.scrollTop = box.scrollHeight;
  if (threadRoot) {
    const root = byId.get(threadRoot);
    const list = [root, ...items.filter((m) => isThreadReply(m) && m.root_id === threadRoot)].filter(Boolean);
    $("thread-messages").replaceChildren(...list.map((m) => renderMessage(m, 0, true)));
  }
  if (replyTo) $("reply-text").textContent = `回复 ${summary(byId.get(replyTo))}`;
}

function setReply(messageId) {
  replyTo = messageId;
  $("reply-bar").hidden = !messageId;
  if (messageId) {
    $("reply-text").textContent = `回复 ${summary(byId.get(messageId))}`;
    $("text").focus();
  }
}

function openThread(messageId) {
  threadRoot = messageId;
  $("thread").hidden = !messageId;
  if (messageId) loadMessages();
}

async function post(text, extra) {
  const chat = (await api("/sandbox/chats")).items.find((c) => c.chat_id === currentChat);
  await api(`/sandbox/chats/${encodeURIComponent(currentChat)}/messages`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      user: $("user").value.trim(), text, mention_bot: $("mention-bot").checked,
      chat_type: chat ? chat.chat_type : "group", ...extra,
    }),
  });
}

async function send(event) {
  event.preventDefault();
  $("error").textContent = "";
  try {
    await post($("text").value, replyTo ? { parent_id: replyTo } : {});
    $("text").value = "";
    setReply(null);
  } catch (err) {
    $("error").textContent = err.message;
  }
  loadMessages();
}

async function sendInThread(event) {
  event.preventDefault();
  $("error").textContent = "";
  try {
    await post($("thread-text").value, { parent_id: threadRoot, in_thread: true });
    $("thread-text").value = "";
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
  $("thread-composer").onsubmit = sendInThread;
  $("reply-cancel").onclick = () => setReply(null);
  $("thread-close").onclick = () => openThread(null);
  $("new-chat").onsubmit = newChat;
  listen();
}

main().catch((err) => { $("error").textContent = err.message; });

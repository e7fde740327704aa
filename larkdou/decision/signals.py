"""Signals read from the message text alone: each a pure function of the text, returning a number.

Mixed Chinese and English is the norm, so every cue list has both. The numbers are counts squashed
with log1p (or 0/1 flags), so one very long paste does not outweigh everything else.
"""

from __future__ import annotations

import math
import re
import unicodedata

from larkdou.kb.chitchat import EN_WORDS, PHRASES
from larkdou.kb.tokens import tokenize

_QMARK = re.compile(r"[?？]")
_ZH_ASK = re.compile(
    r"请问|请教|求问|问一?下|怎么|怎样|如何|为什么|为啥|咋|是否|能否|能不能|可不可以|可以吗|行不行|对不对|是不是|有没有|"
    r"哪里|哪儿|哪个|哪些|哪一|什么|啥|多少|多久|多大|几[个次种号点天]|干嘛|为何|怎么回事|区别|原因|意思|"
    r"吗(?=[\s,，。.!！?？～~…]|$)|呢[?？\s。～~]*$|"
    r"([\u4e00-\u9fff])不\1")  # a clause ending in 吗; 要不要, 支不支持, 会不会 …
_EN_ASK = re.compile(
    r"(?:^|[\s,(])(?:how|what|why|where|which|when|whether|is there|are there|can i|can we|can you|could|does|do i|do we|"
    r"should|any idea|anyone know|is it possible)\b|^\s*(?:can|is|are|do|does|did|will|would|has|have)\s", re.IGNORECASE)
_HELP = re.compile(
    r"求助|求教|帮忙|帮看|报错|错误|出错|失败|不行|不了|跑不|卡住|卡在|异常|问题|解决|怎么办|不生效|没反应|没有反应|不通过|"
    r"挂了|崩了|不对|不一样|收不到|打不开|连不上|超时|"
    r"\berror\b|\bfail(?:s|ed|ure)?\b|exception|cannot|can't|doesn't|does not|unable|\bissue\b|problem|\bhelp\b|"
    r"not working|timed? ?out|refused|denied", re.IGNORECASE)

# someone answering someone else: advice, a fix that worked, a guess at the cause
_ADVICE = re.compile(
    r"你(?:试试|可以|把|先|再|看下|看看|检查|换|装|改|这个应该|这是)|试试看?|就行了?|就好了?|就可以了|应该是|我这边|我是这么|"
    r"我(?:之前|以前)?也遇到|后来|重装|解决了|搞定|"
    r"\btry\b|you (?:should|can|need|could|have to)|worked for me|\bjust (?:set|use|run|install|restart)|fixed (?:it|by)",
    re.IGNORECASE)

# identifiers and other tokens only technical writing has
_IDENT = re.compile(r"\b[A-Za-z]+(?:_[A-Za-z0-9]+)+\b|\b[a-z]+[A-Z][A-Za-z]+\b|\b[A-Za-z]+\d+[A-Za-z0-9]*\b")
_VERSION = re.compile(r"\bv?\d+\.\d+(?:\.\d+)*\b|\bcu\d{2,3}\b|\bpy3\d*\b", re.IGNORECASE)
_FILE = re.compile(r"\b[\w\-]+\.(?:py|ini|toml|ya?ml|json|jsonl|txt|md|sh|cfg|conf|log|pth|pt|bin|onnx|so|whl|csv|"
                   r"html|js|ts|cpp|h|cu)\b|(?:^|\s)(?:/[\w.\-]+){2,}|[A-Za-z]:\\", re.IGNORECASE)
_COMMAND = re.compile(r"(?:^|\s|`)(?:pip3?|conda|python3?|git|docker|curl|wget|sudo|apt(?:-get)?|yum|npm|bash|make|"
                      r"nvidia-smi|redis-server|systemctl|export|cd|ls)\s+\S|(?:^|\s)--?[a-z][\w\-]+", re.IGNORECASE)
_ERROR_NAME = re.compile(r"\b\w*(?:Error|Exception|Warning)\b|Traceback|errno|segmentation fault|core dumped|\bOOM\b|"
                         r"\b(?:HTTP\s?)?[45]\d\d\b|\b\d{5,}\b", re.IGNORECASE)
_TECH_WORDS = frozenset("""
cuda gpu cpu pip conda python torch pytorch install config yaml json api token key server port host
docker linux ubuntu windows mac model train training inference deploy deployment version build
compile dependency dependencies env environment log logs error bug issue pr repo github branch commit
embedding embeddings llm rag vector database redis sqlite http https url webhook callback sdk cli
batch lr loss checkpoint weights dataset gpu memory onnx tensorrt quantization finetune fine-tune
""".split())
_ZH_TECH = re.compile(
    r"安装|报错|配置|模型|训练|推理|部署|显存|显卡|内存|版本|编译|环境|依赖|数据集|权重|参数|接口|服务|端口|日志|代码|"
    r"脚本|命令|文档|源码|精度|量化|微调|调用|请求|返回|字段|密钥|回调|地址|目录|路径|文件|重启|启动|运行|执行|加载|"
    r"构建|索引|检索|向量|阈值|权限|事件|签名|加密|解密|校验|token|协议|网关|队列|存储|数据库|镜像|容器|集群|节点|"
    r"机器人|知识库|特征库|升级|降级|兼容|驱动|卡住|超时|限流")
_CODE = re.compile(r"Traceback \(most recent call last\)|^\s*File \".*\", line \d+|```|^\s*[$>#]\s*\w|>>> ",
                   re.MULTILINE)
_MENTION = re.compile(r"(?:^|\s)@[^\s@]{1,20}")
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_LAUGH = re.compile(r"哈{2,}|呵{2,}|嘿{2,}|嘻{2,}|(?:ha){2,}|\blol\b|\blmao\b|笑死|😂|🤣|狗头", re.IGNORECASE)
_SPLIT = re.compile(r"[\s,，.。!！?？~～、…;；:：]+")


def _squash(n: float) -> float:
    return math.log1p(n)


def visible(text: str) -> str:
    """The text without whitespace, URLs and @mentions: what the length counts."""
    return "".join(_URL.sub(" ", _MENTION.sub(" ", text)).split())


def asks(text: str) -> float:
    """Question form: a question mark, Chinese or English interrogatives (0 to about 1.4)."""
    cues = len(_QMARK.findall(text[-40:])) > 0
    cues += len(set(m.group(0) for m in _ZH_ASK.finditer(text)))  # a V不V counts once per verb
    cues += len(set(m.group(0).strip(" ,(").lower() for m in _EN_ASK.finditer(text)))
    return _squash(min(cues, 3))


def seeks_help(text: str) -> float:
    """Help-seeking and problem reports: 求助, 报错, 不生效, error, failed, doesn't work …"""
    return _squash(min(len(set(m.group(0).lower() for m in _HELP.finditer(text))), 4))


def length(text: str) -> float:
    """log(1 + visible characters)."""
    return _squash(len(visible(text)))


def words(text: str) -> float:
    """log(1 + distinct content words), stopwords removed (jieba for Chinese)."""
    return _squash(len(set(tokenize(_URL.sub(" ", text)))))


def advice(text: str) -> float:
    """Answers people give each other: "你试试…", "…就行", "应该是…", "我这边…", "try …", "worked for me"."""
    return _squash(min(len(set(m.group(0).lower() for m in _ADVICE.finditer(text))), 3))


def technical(text: str) -> float:
    """Technical tokens: identifiers, versions, file names and paths, commands and flags, error names,
    and software/ML vocabulary (安装, 显存, cuda, pip …)."""
    plain = _URL.sub(" ", text)
    found: set[str] = set()
    for pattern in (_IDENT, _VERSION, _FILE, _COMMAND, _ERROR_NAME, _ZH_TECH):
        found.update(m.group(0).strip().lower() for m in pattern.finditer(plain))
    found.update(w for w in re.findall(r"[a-z][a-z\-]+", plain.lower()) if w in _TECH_WORDS)
    return _squash(min(len(found), 12))


def code(text: str) -> float:
    """1 for a pasted traceback, code block or shell prompt, else 0."""
    return 1.0 if _CODE.search(text) else 0.0


def chatter(text: str) -> float:
    """Social noise: laughter, emoji, exclamations and social phrases ("收到", "thanks", "好的")."""
    n = len(_LAUGH.findall(text)) + text.count("!") + text.count("！")
    n += sum(1 for ch in text if unicodedata.category(ch) == "So")
    for piece in _SPLIT.split(text.lower()):
        word = "".join(ch for ch in piece if unicodedata.category(ch)[0] in "LN")
        if word and (word in PHRASES or word in EN_WORDS):
            n += 1
    return _squash(min(n, 4))


def mentions_someone(text: str) -> float:
    """1 when the text @mentions someone (talk between people), else 0."""
    return 1.0 if _MENTION.search(text) else 0.0


def link(text: str) -> float:
    """1 when the message carries a URL (usually something shared), else 0."""
    return 1.0 if _URL.search(text) else 0.0


TEXT_SIGNALS = {
    "asks": asks,
    "seeks_help": seeks_help,
    "advice": advice,
    "length": length,
    "words": words,
    "technical": technical,
    "code": code,
    "chatter": chatter,
    "mentions_someone": mentions_someone,
    "link": link,
}


def text_signals(text: str) -> dict[str, float]:
    """Every text signal of `text`, by name."""
    return {name: fn(text) for name, fn in TEXT_SIGNALS.items()}

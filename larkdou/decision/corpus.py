"""The labelled group messages the decision model is trained and tested on.

Three sources, all written for this project: `data/handwritten.txt` (lines written one by one),
`data/stream.jsonl` (a written stream of a toolkit community's group: interleaved conversations,
questions with their answers, reactions, announcements, in the proportions of real traffic; its
questions are mostly about tools the knowledge bases do not cover), and messages generated here from
templates and vocabulary in the style of busy technical groups (a question with context, politeness,
code and logs; chatter, logistics, reactions, human answers to questions, announcements). Each
message belongs to one knowledge base, the group's topic (the stream's: hxd):

    hxd     HuixiangDou's README files and docs      (`shared/corpora/huixiangdou`)
    guide   the Lark group guide and Lark notes      (`shared/seed`, `shared/reference`)
    sample  larkdou's bundled sample knowledge base  (`larkdou/data/sample_kb/docs`)

`python -m larkdou.decision.corpus` rewrites `data/messages.jsonl`. The split is fixed by a hash of
the text: about 30% of the messages are the TEST split, never used for fitting or choosing anything.
`data/transfer.txt` is a second, differently written test set, and `data/stream-test.jsonl` a third:
another written stream of toolkit groups, in the proportions of real traffic where length alone is a
weak guide (a quarter of its questions are short, a fifth of its chatter is long). Neither is ever
trained or tuned on.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
KB_NAMES = ("hxd", "guide", "sample")


@dataclass(frozen=True)
class Labelled:
    text: str
    label: int  # 1 answer, 0 stay silent
    kb: str
    origin: str  # "hand", "stream", "template", or a held-out set: "transfer", "stream-test"

    @property
    def split(self) -> str:
        return split_of(self.text)


def split_of(text: str) -> str:
    """"test" for about 30% of texts, "train" for the rest; fixed by a hash of the text."""
    return "test" if int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16) % 10 < 3 else "train"


def _kb_for(text: str) -> str:
    return KB_NAMES[int(hashlib.md5(text.encode("utf-8")).hexdigest()[:6], 16) % len(KB_NAMES)]


def read_handwritten(path: Path, origin: str = "hand") -> list[Labelled]:
    """Lines under `[kb=NAME label=N]` headers; `kb=*` picks a knowledge base by a hash of the text."""
    out: list[Labelled] = []
    kb, label = "*", 0
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[kb=") and line.endswith("]"):
            fields = dict(part.split("=", 1) for part in line[1:-1].split())
            kb, label = fields["kb"], int(fields["label"])
            continue
        text = line.replace("\\n", "\n")
        out.append(Labelled(text, label, _kb_for(text) if kb == "*" else kb, origin))
    return out


# ---- vocabulary ------------------------------------------------------------------------------------

ZH_POLITE = ["", "", "", "", "请问", "请问一下，", "问一下，", "各位大佬好，", "大佬们，", "不好意思打扰一下，",
             "新手求助，", "求助：", "请教一下，", "想问下", "有人知道", "各位，", "hello，", "麻烦问下", "老师好，",
             "小白问一下，", "打扰了，", "求问，"]
ZH_CONTEXT = ["", "", "", "", "", "我是按 README 一步步来的，", "刚开始用，", "照着文档操作的，", "昨天还好好的，",
              "换了台机器之后，", "升级到最新版之后，", "在公司服务器上部署的，", "用的是 docker，", "在 Ubuntu 20.04 上，",
              "按教程装完依赖，", "我这边环境是 python3.10 + cuda11.8，", "第一次部署，", "我们组想在群里用，"]
ZH_END = ["", "", "", "？", "？", "?", "呢", "呀？", "，谢谢", "，谢谢大佬", "，求指点", "，急", " 🙏", "，有大佬知道吗",
          "，多谢", "～", "。", "？？", "，在线等"]
EN_POLITE = ["", "", "", "Hi all, ", "Hey, ", "Quick question: ", "Hi, ", "Sorry if this was asked before, ",
             "Newbie here, ", "Hello everyone, ", "Can someone help? "]
EN_END = ["", "?", "?", "?", " thanks!", "? thanks in advance", "? any idea", "?? 🙏", " - any help appreciated"]

ERRORS = [
    "ModuleNotFoundError: No module named 'faiss'", "CUDA out of memory. Tried to allocate 2.00 GiB",
    "RuntimeError: CUDA error: no kernel image is available for execution on the device",
    "ImportError: libGL.so.1: cannot open shared object file", "KeyError: 'llm'",
    "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='api.moonshot.cn', port=443)",
    "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
    "OSError: [Errno 98] Address already in use", "redis.exceptions.ConnectionError: Error 111 connecting to 127.0.0.1:6379",
    "huggingface_hub.utils._validators.HFValidationError: Repo id must be in the form 'repo_name'",
    "TypeError: __init__() got an unexpected keyword argument 'device'", "ValueError: invalid literal for int()",
    "PermissionError: [Errno 13] Permission denied: 'workdir'", "toml.decoder.TomlDecodeError: Unbalanced quotes",
    "ERROR: Could not build wheels for faiss-gpu", "Segmentation fault (core dumped)", "Killed",
    "openai.AuthenticationError: Error code: 401", "httpx.ReadTimeout", "AssertionError",
]


def _traceback(rng: random.Random, error: str) -> str:
    mod = rng.choice(["huixiangdou/main.py", "huixiangdou/service/worker.py", "larkdou/cli/main.py",
                      "site-packages/torch/nn/modules/module.py", "service/feature_store.py", "app.py"])
    line = rng.randint(12, 480)
    fn = rng.choice(["main", "run", "__init__", "build", "forward", "load", "<module>"])
    return f"Traceback (most recent call last):\n  File \"{mod}\", line {line}, in {fn}\n    ...\n{error}"


@dataclass
class Topic:
    kb: str
    things: list[str]  # nouns the docs talk about
    asks: list[str]  # "{t}" is a thing
    commands: list[str]
    en_things: list[str]
    en_asks: list[str]


TOPICS = [
    Topic(
        "hxd",
        ["config.ini", "茴香豆", "特征库", "知识库", "拒答阈值", "reject_throttle", "embedding 模型", "reranker",
         "远程 LLM", "本地 LLM", "remote_type", "kimi 的 api key", "deepseek", "internlm2", "bce-embedding-base_v1",
         "text2vec", "微信群接入", "飞书群接入", "web 前端", "知识图谱", "readthedocs 接入", "chunk size",
         "显存占用", "requirements.txt", "feature_store", "sft 数据", "openxlab demo", "混合检索", "向量库", "lmdeploy",
         "vllm 服务", "企业微信", "个人微信", "拒答", "多轮对话", "工作目录 workdir", "文档更新"],
        ["{t} 怎么配置", "{t} 在哪里改", "{t} 是干什么用的", "{t} 有什么要求", "{t} 支持哪些格式", "{t} 怎么换成别的",
         "{t} 需要多少显存", "怎么开启{t}", "{t} 可以不用吗", "{t} 设置多少合适", "{t} 报错了怎么解决", "{t} 不生效",
         "{t} 和文档里说的不一样", "改了{t}之后需要重启吗", "{t} 有没有文档", "为什么{t}没有效果", "{t} 怎么关掉"],
        ["python3 -m huixiangdou.main --standalone", "python3 -m huixiangdou.service.feature_store",
         "pip install -r requirements.txt", "python3 -m huixiangdou.frontend.lark_group", "python3 -m web.main",
         "pip install faiss-gpu", "bash run.sh"],
        ["the config.ini", "the reject threshold", "the feature store", "the embedding model", "the remote LLM",
         "the WeChat integration", "the Lark group integration", "the web UI", "the knowledge graph", "the reranker",
         "GPU memory usage", "the chunk size"],
        ["how do I configure {t}", "where is {t} set", "what does {t} do", "can I change {t}", "is there a doc for {t}",
         "why is {t} not working", "how do I turn off {t}", "what are the requirements for {t}"],
    ),
    Topic(
        "guide",
        ["飞书回调地址", "encrypt_key", "verification_token", "app_id", "app_secret", "事件订阅", "接收消息 v2.0 事件",
         "机器人权限", "测试企业", "webhook_url", "6666 端口", "安全组", "公网 IP", "redis-server", "/fetch 接口",
         "豆哥撤回", "撤回窗口", "签名校验", "X-Lark-Signature", "challenge 校验", "长连接模式", "tenant_access_token",
         "消息去重", "uuid 幂等", "230009 错误码", "230020 限流", "99991663", "卡片更新", "reply 接口",
         "加解密策略", "event_id", "版本发布审核"],
        ["{t} 怎么配置", "{t} 在哪里设置", "{t} 是什么意思", "{t} 填什么", "{t} 有什么限制", "{t} 校验失败怎么办",
         "{t} 一直不通过", "{t} 需要开通吗", "为什么{t}不生效", "{t} 多久过期", "{t} 报错了", "{t} 要怎么测试",
         "{t} 有文档说明吗", "{t} 和之前的版本有区别吗", "配置{t}的时候提示错误"],
        ["curl -X POST http://101.133.161.20:6666/fetch", "python3 -m huixiangdou.frontend.lark_group",
         "redis-server", "sudo systemctl start redis", "python3 -m huixiangdou.main --standalone"],
        ["the callback URL", "the encrypt key", "the verification token", "the event subscription",
         "the bot permissions", "the recall window", "the signature check", "the long connection mode",
         "the tenant access token", "message dedup", "error 230020", "card updates"],
        ["how do I set up {t}", "where do I find {t}", "what is {t} for", "why does {t} fail",
         "is there a limit on {t}", "how long does {t} last", "how do I test {t}"],
    ),
    Topic(
        "sample",
        ["larkdou gateway", "fetch_token", "/fetch", "/ack", "assistant 的 API", "kb build", "kb eval", "kb query",
         "sandbox", "larkdou demo", "recall_keywords", "long_connection 模式", "redis 存储", "sqlite 存储",
         "[llm] base_url", "rpm 限制", "死信队列", "reply_format", "context_messages", "config init", "config check",
         "webhook_url", "--standalone", "[[groups]] mode", "healthz", "metrics 接口", "撤回权限"],
        ["{t} 怎么用", "{t} 怎么配置", "{t} 是干什么的", "{t} 报错", "{t} 默认值是多少", "{t} 可以改吗",
         "{t} 返回 401", "{t} 有什么参数", "{t} 不生效是什么原因", "{t} 支持集群吗", "怎么查看{t}",
         "{t} 和 guide 里的配置一样吗"],
        ["larkdou gateway --config config.ini", "larkdou assistant --standalone", "larkdou kb build --docs ./docs",
         "larkdou demo", "larkdou queue dead", "larkdou config check --role gateway"],
        ["the gateway", "the fetch token", "kb build", "kb eval", "the sandbox", "the demo", "recall keywords",
         "long connection mode", "the redis store", "the llm rpm setting", "the dead letter queue", "reply format"],
        ["how do I use {t}", "how do I configure {t}", "what does {t} do", "why does {t} return 401",
         "what's the default for {t}", "can I change {t}"],
    ),
]

FOODS = ["火锅", "麻辣烫", "黄焖鸡", "烤肉", "寿司", "饺子", "螺蛳粉", "沙拉", "汉堡", "奶茶", "咖啡", "烧烤"]
PLACES = ["食堂", "楼下", "公司门口", "会议室", "3 楼", "实验室", "地铁站", "园区", "商场", "机房"]
TIMES = ["明天上午十点", "今天下午三点", "周五晚上", "下周一", "今晚八点", "周三中午", "这周末", "月底", "十分钟后"]
PEOPLE = ["张三", "李四", "王五", "小明", "老王", "阿杰", "Alice", "Bob", "小李", "陈老师", "刘工"]
THINGS = ["这个表", "那个图", "这个比例", "这个数据", "上次那个结果", "这个排名", "新版本", "这个界面", "那篇论文",
          "这个视频", "刚才那个截图", "这个方案", "这个价格", "那个活动", "这个 PPT"]
REACT = ["也太高了吧", "看不懂", "有点离谱", "挺好的", "还行吧", "不太对劲", "太难了", "有意思", "绝了", "挺香的",
         "好像有问题", "还能用不", "不知道有没有用", "真不错", "一般般", "看着好复杂", "改得挺大"]
TECH_REMARKS = ["我这边跑是正常的", "我也遇到过，重装就好了", "换成 python 3.10 就没事了", "应该是显存不够",
                "你把 batch size 调小点", "装 cu118 版本的 torch 试试", "看下日志就知道了", "我记得文档里写了",
                "升级到最新版就好了", "是网络的问题，换个源", "配置文件路径写错了吧", "我用 3090 跑的，挺快",
                "这个模型效果一般", "新版本快多了", "昨晚跑了一晚上终于收敛", "显卡又被占满了", "今天又在调参",
                "GPU 利用率一直上不去，算了不管了", "我们组也在用这个", "部署到服务器上了，效果不错",
                "已经提 issue 了", "PR 已经合了", "我先去看看源码", "这个 bug 昨天修了"]
EN_CHATTER = ["lol", "haha that's great", "nice!", "see you all tomorrow", "anyone for coffee?", "thanks a lot",
              "brb", "good night", "I'm off today", "the meeting moved to {time}", "who's coming to {place}?",
              "happy friday 🎉", "that's wild", "agreed", "same here", "not sure tbh", "let me check later",
              "it works on my machine", "just updated, looks good", "great job on the release", "welcome {name}!",
              "my gpu is finally free lol", "is lunch at {place} today?", "anyone watching the game tonight?"]


def _zh_question(rng: random.Random, topic: Topic) -> str:
    body = rng.choice(topic.asks).format(t=rng.choice(topic.things))
    roll = rng.random()
    if roll < 0.15:
        cmd, err = rng.choice(topic.commands), rng.choice(ERRORS)
        body = rng.choice([f"运行 {cmd} 报错 {err}", f"{cmd} 之后一直报 {err}", f"执行 {cmd} 出现 {err}，怎么解决",
                           f"跑 {cmd} 的时候提示 {err}"])
    elif roll < 0.22:
        err = rng.choice(ERRORS)
        body = rng.choice(["{c}{b}，日志如下：\n{tb}", "{c}跑的时候挂了\n{tb}\n这是什么原因", "{tb}\n{c}这个怎么解决",
                           "{c}报错了：\n{tb}"]).format(c=rng.choice(ZH_CONTEXT), b=body, tb=_traceback(rng, err))
        return rng.choice(ZH_POLITE) + body
    elif roll < 0.30:
        body = f"{rng.choice(topic.things)} {rng.choice(['和', '跟'])} {rng.choice(topic.things)} 有什么区别"
    elif roll < 0.36:
        body = f"按文档配置了{rng.choice(topic.things)}，但是{rng.choice(['没反应', '还是不行', '一直失败', '没有生效', '报错'])}"
    return rng.choice(ZH_POLITE) + rng.choice(ZH_CONTEXT) + body + rng.choice(ZH_END)


def _en_question(rng: random.Random, topic: Topic) -> str:
    body = rng.choice(topic.en_asks).format(t=rng.choice(topic.en_things))
    if rng.random() < 0.2:
        body = f"running `{rng.choice(topic.commands)}` fails with {rng.choice(ERRORS)}"
    text = rng.choice(EN_POLITE) + body + rng.choice(EN_END)
    return text[0].upper() + text[1:]


def _chatter(rng: random.Random) -> str:
    kind = rng.random()
    name, food, place, time = rng.choice(PEOPLE), rng.choice(FOODS), rng.choice(PLACES), rng.choice(TIMES)
    if kind < 0.18:
        return rng.choice(THINGS) + rng.choice(REACT) + rng.choice(["", "", "吧", "啊", "哈哈", "😂", "？", "!"])
    if kind < 0.30:
        return rng.choice([f"中午吃{food}吗", f"有人去{place}吗", f"{food}还是{rng.choice(FOODS)}？", f"今天{place}人好多",
                           f"晚上一起去吃{food}？", f"谁点了{food}", f"{place}的{food}好吃吗", f"请问{place}几点开门",
                           f"有没有人一起去{place}", f"大佬们，{time}有空吗"])
    if kind < 0.42:
        return rng.choice([f"{time}开会，记得参加", f"会议改到{time}了", f"@{name} {time}有空吗", f"{time}的分享大家别迟到",
                           f"@所有人 {time}在{place}集合", f"{time}我请假", f"{name}在吗？", f"@{name} 收到，晚点看",
                           f"@{name} 好的", f"@{name} 你那边搞定了吗", f"@{name} 哈哈哈哈", f"谁知道{name}去哪了"])
    if kind < 0.58:
        remark = rng.choice(TECH_REMARKS)
        return rng.choice(["", "", f"@{name} ", "我觉得", "哈哈，"]) + remark + rng.choice(["", "", "。", "哈哈", "👍", "～"])
    if kind < 0.66:
        return rng.choice(EN_CHATTER).format(time=rng.choice(["3pm", "10am", "tomorrow", "friday"]),
                                             place=rng.choice(["the canteen", "room 502", "the cafe"]),
                                             name=rng.choice(PEOPLE))
    if kind < 0.74:
        topic = rng.choice(["论文分享会", "开源社区开放麦", "线下 meetup", "新版本发布直播", "训练营", "黑客松"])
        return rng.choice([
            f"【通知】{time}举行{topic}，欢迎大家报名参加，报名链接见群公告，名额有限先到先得",
            f"各位同学好，{topic}的回放已经上传到 B 站了，没赶上的可以去看看，有什么建议也欢迎在群里反馈",
            f"@所有人 {topic}改到{time}了，地点在{place}，请大家互相转告，谢谢配合",
            f"分享一篇不错的文章 https://zhuanlan.zhihu.com/p/{rng.randint(10**8, 10**9)}",
            f"{topic}的 PPT 我放群文件了，需要的自取",
        ])
    if kind < 0.84:
        return rng.choice(["哈哈哈", "笑死", "🤣", "👍👍", "666", "好耶", "牛", "绝了", "可以可以", "冲冲冲", "啊这", "离谱",
                           "我也想问", "同问", "蹲", "顶", "+1", "在的", "来了来了", "收到收到", "好的好的", "有道理", "确实",
                           "没毛病", "懂了", "学到了", "太强了", "好家伙", "草", "？", "。。。", "emmm", "嗯嗯"])
    if kind < 0.92:
        return rng.choice([f"{place}今天好冷", f"外面下雨了，{name}带伞了吗", f"周末去{place}玩吗？", "最近好忙啊",
                           "下周放假吗？", "这周末有什么电影推荐吗", "有人知道明天天气怎么样吗", "快递到了没",
                           f"{name}生日快乐🎂", "今天又是加班的一天", "谁有充电宝借一下", "困死了，咖啡续命",
                           f"有人在{place}吗，帮忙取个快递", "这个月的报销什么时候截止", "工位空调太冷了"])
    return rng.choice([f"{rng.choice(THINGS)}是谁做的", f"{rng.choice(THINGS)}在哪看", f"{rng.choice(THINGS)}发一下呗",
                       f"@{name} {rng.choice(THINGS)}{rng.choice(REACT)}", f"{rng.choice(THINGS)}我没看懂",
                       f"谁能解释下{rng.choice(THINGS)}", f"{rng.choice(THINGS)}能再发一遍吗"])


OTHER_STACKS = [
    ("安卓上用 ncnn 跑 {m}", ["掉帧严重", "速度很慢", "结果全是 0", "闪退", "内存暴涨"]),
    ("vue3 项目里 {m}", ["watch 不触发", "打包后白屏", "路由跳转失效", "样式不生效"]),
    ("Spring Boot 的 {m}", ["启动报端口占用", "事务不生效", "定时任务跑两次", "连接池满了"]),
    ("Excel 里 {m}", ["怎么批量删除空行", "公式下拉不变", "数据透视表刷新不了", "vlookup 返回 #N/A"]),
    ("iPhone 的 {m}", ["自动更新怎么关", "电池掉得快", "照片同步不了", "蓝牙连不上"]),
    ("k8s 的 {m}", ["ingress 配 https", "pod 一直 pending", "node NotReady", "pvc 绑定失败"]),
    ("mysql 的 {m}", ["主从延迟怎么排查", "死锁怎么看", "慢查询日志在哪", "字符集乱码"]),
    ("unity 的 {m}", ["打包 apk 报错", "光照烘焙很慢", "UI 适配不了"]),
    ("React 的 {m}", ["useEffect 执行两次", "state 不更新", "列表 key 报警告"]),
    ("家里 NAS 的 {m}", ["硬盘休眠唤醒慢", "外网访问不了", "docker 装不上"]),
    ("Photoshop {m}", ["怎么抠图", "打开很卡", "字体缺失"]),
    ("微信小程序 {m}", ["上传代码失败", "真机预览白屏", "授权弹窗不出来"]),
]
NOT_TECH_LONG = [
    "有没有人知道从公司到机场坐地铁要多久，打车大概多少钱？明天一早的航班",
    "周末想带孩子去{place}附近玩，大家有没有推荐的地方，最好人少一点的",
    "请问一下大家平时都在哪里买{food}，感觉楼下那家越来越贵了",
    "有人知道{place}的停车场晚上几点关门吗？上次车被锁在里面了",
    "大家好，我是新来的{name}，以后请多多关照，有什么活动记得叫上我",
    "我觉得这次活动组织得挺好的，就是{place}有点小，下次可以换个大点的场地，大家觉得呢",
    "刚看到一个新闻说{food}涨价了，现在吃个饭都要三四十，打工人太难了",
    "昨天熬夜看球赛，今天一整天都没精神，下午开会差点睡着，还好老板没发现哈哈",
    "问下大家年假一般怎么安排，我想凑个长假出去玩，但是项目一直走不开",
    "{name}，上次你说的那家{food}在哪里来着，我想周末去试试",
]
HUMAN_ANSWERS = [
    "这个我之前也遇到过，{fix}，然后重新跑一下就好了，你可以试试",
    "你这个应该是{cause}导致的，{fix}就行，不行的话再把完整日志发出来看看",
    "@{name} {fix}，我这边是这么解决的",
    "我们组也踩过这个坑，最后发现是{cause}，{fix}之后就正常了",
    "不用改代码，{fix}就可以了，文档里 FAQ 那一节有写",
    "一般是{cause}，先{fix}",
    "我刚试了一下，{fix}之后可以跑通了，速度也还行，大概一分钟出结果",
]
FIXES = ["把 batch size 调小一点", "装 cu118 版本的 torch", "重新建一下特征库", "把 config.ini 里的路径改成绝对路径",
         "pip 换清华源再装一遍", "升级到最新版", "把 redis 重启一下", "检查一下 encrypt_key 有没有填对",
         "把端口在安全组里放开", "降级 sentence_transformers 到 2.2.2", "换成 python 3.10"]
CAUSES = ["显存不够", "依赖版本不对", "网络不通", "配置文件写错了", "权限没开", "端口被占用", "模型路径不对", "token 过期了"]


def _hard(rng: random.Random) -> tuple[str, int, str]:
    """Cases a length rule gets wrong: short questions, long chatter, human answers, other stacks."""
    kind = rng.random()
    name, food, place = rng.choice(PEOPLE), rng.choice(FOODS), rng.choice(PLACES)
    if kind < 0.25:
        topic = rng.choice(TOPICS)
        t = rng.choice(topic.things)
        text = rng.choice([f"{t}怎么配", f"{t}在哪", f"{t}？", f"{t}咋改", f"{t} 报错", f"{t}是啥", f"{t}不生效",
                           rng.choice(ERRORS), f"{t}怎么弄", f"有{t}的文档吗", f"{t} 要填吗", f"{t}必须吗"])
        return text, 1, topic.kb
    if kind < 0.40:
        topic = rng.choice(TOPICS)
        ask = rng.choice(topic.asks).format(t=rng.choice(topic.things))
        return f"@{name} {rng.choice(['请问', '问下', '你知道', ''])}{ask}{rng.choice(['？', '', '吗'])}", 1, topic.kb
    if kind < 0.58:
        stack, problems = rng.choice(OTHER_STACKS)
        text = rng.choice(ZH_POLITE) + stack.format(m=rng.choice(problems)) + rng.choice(["", "？", "，怎么解决", "，有人遇到过吗"])
        return text, 0, _kb_for(text)
    if kind < 0.72:
        text = rng.choice(NOT_TECH_LONG).format(place=place, food=food, name=name)
        return text, 0, _kb_for(text)
    text = rng.choice(HUMAN_ANSWERS).format(fix=rng.choice(FIXES), cause=rng.choice(CAUSES), name=name)
    return text, 0, _kb_for(text)


def generate(seed: int = 20261202, per_topic: int = 200, chatter: int = 1100, hard: int = 450) -> list[Labelled]:
    rng = random.Random(seed)
    out: dict[str, Labelled] = {}
    for topic in TOPICS:
        made = 0
        while made < per_topic:
            text = _en_question(rng, topic) if rng.random() < 0.2 else _zh_question(rng, topic)
            if text not in out:
                out[text] = Labelled(text, 1, topic.kb, "template")
                made += 1
    made = 0
    while made < hard:
        text, label, kb = _hard(rng)
        if text not in out:
            out[text] = Labelled(text, label, kb, "template")
            made += 1
    made = 0
    while made < chatter:
        text = _chatter(rng)
        if text not in out:
            out[text] = Labelled(text, 0, _kb_for(text), "template")
            made += 1
    return list(out.values())


def load(name: str = "messages") -> list[Labelled]:
    """`messages` (training and test splits), or a held-out set: `transfer`, `stream-test`."""
    if name == "transfer":
        return read_handwritten(DATA / "transfer.txt", "transfer")
    if name == "stream-test":
        return read_stream(DATA / "stream-test.jsonl", "stream-test")
    with open(DATA / f"{name}.jsonl", encoding="utf-8") as f:
        return [Labelled(**json.loads(line)) for line in f if line.strip()]


HELD_OUT = ("transfer", "stream-test")  # test sets never trained or tuned on


def read_stream(path: Path, origin: str = "stream") -> list[Labelled]:
    """A written stream: {"text", "label"} lines of one group (knowledge base hxd)."""
    with open(path, encoding="utf-8") as f:
        return [Labelled(row["text"], int(row["label"]), "hxd", origin)
                for row in (json.loads(line) for line in f if line.strip())]


def assemble() -> tuple[list[Labelled], int]:
    """What `data/messages.jsonl` holds: the written messages (first hand-written, then the stream),
    then the generated ones, each text once; and how many were written one by one."""
    written: dict[str, Labelled] = {}
    for m in read_handwritten(DATA / "handwritten.txt") + read_stream(DATA / "stream.jsonl"):
        written.setdefault(m.text, m)
    rows = dict(written)
    for m in generate():
        rows.setdefault(m.text, m)
    return list(rows.values()), len(written)


def main() -> None:
    rows, written = assemble()
    with open(DATA / "messages.jsonl", "w", encoding="utf-8") as f:
        for m in rows:
            f.write(json.dumps({"text": m.text, "label": m.label, "kb": m.kb, "origin": m.origin},
                               ensure_ascii=False) + "\n")
    pos = sum(m.label for m in rows)
    test = sum(m.split == "test" for m in rows)
    print(f"{len(rows)} messages ({pos} to answer, {len(rows) - pos} silent; {written} written one by one); "
          f"{test} in the test split")


if __name__ == "__main__":
    main()

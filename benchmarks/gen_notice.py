"""Generated 申报通知 (yearly call for applications) for the benchmarks: realistic structure and varied text.

``notice_docx(pages, year, seed)`` writes a DOCX with python-docx: a title, the addressees, a preamble, then
sections 一、 … with items （一） … 1. … （1） …, one table of application materials per section, a page break
after each page's worth of text (≈ 800 Chinese characters), the validity clause, issuer and date. Section 四、
says when applications close (``deadline(year)``), so a benchmark can ask for it and see the notice cited.
"""

from __future__ import annotations

import io
import random

CN = "一二三四五六七八九十"
PAGE_CHARS = 800

SECTIONS = [
    ("总体要求", "坚持需求导向和问题导向，围绕我省重点产业链关键环节组织申报"),
    ("申报范围", "重点支持先进制造、生物医药、绿色能源、数字经济、高原特色农业等领域"),
    ("申报条件", "牵头单位应为在滇注册的行业骨干企业，具有较强的研发投入和成果转化能力"),
    ("申报时间", ""),
    ("支持方式和额度", "省级财政科技经费采取后补助与前资助相结合的方式给予支持"),
    ("申报材料", "申报单位应按要求准备材料，对材料的真实性、完整性和有效性负责"),
    ("评审程序", "省科技厅组织形式审查、专家评审、现场考察和综合评议"),
    ("绩效管理", "创新联合体实行年度报告和中期评估制度，评估结果作为后续支持的重要依据"),
    ("监督管理", "推荐单位和申报单位应加强对申报工作的组织管理和监督检查"),
    ("联系方式", "各单位在申报过程中如有问题，可通过以下方式咨询"),
    ("科研诚信", "申报单位和项目负责人应严格遵守科研诚信和科技伦理有关规定"),
    ("其他事项", "本通知未尽事宜，按照国家和省有关规定执行"),
]
ACTORS = ["牵头单位", "成员单位", "申报单位", "各州（市）科技局", "项目负责人", "创新联合体", "推荐单位", "省级主管部门",
          "高校和科研院所", "专业机构"]
MODALS = ["应当", "须", "原则上应", "可", "应及时", "应严格"]
ACTIONS = [
    "按照有关规定如实填写申报书", "在规定时间内提交加盖公章的纸质材料", "建立健全内部管理和协同攻关制度",
    "落实不低于承诺额度的自筹经费", "签订具有法律约束力的合作协议并明确各方权利义务", "围绕产业链关键环节开展核心技术攻关",
    "组织相关领域专家进行论证", "加强对财政科研经费使用的监督检查", "按年度报送建设进展和经费使用情况",
    "配合开展绩效评价和现场核查", "设立专门的管理机构并配备专职人员", "共享大型科研仪器设备和试验平台",
    "推动科技成果在省内转移转化和产业化", "联合培养研究生和高层次技术人才", "对申报材料进行审核并出具推荐意见",
    "统筹安排配套资金并纳入年度预算", "依法依规处理知识产权归属和收益分配", "在申报系统中完成单位注册和信息维护",
]
TAILS = [
    "逾期不予受理", "材料不全的不予受理", "发现弄虚作假的，取消申报资格并记入科研诚信记录", "具体要求见附件",
    "相关情况纳入年度考核", "确保各项工作按期完成", "不得重复申报", "并对推荐结果负责", "经费按规定用途使用",
    "原则上不予调整", "并接受社会监督", "相关费用不得列支",
]
SUBHEADS = ["组织保障", "经费保障", "协同机制", "成果转化", "人才培养", "平台共享", "知识产权", "信息报送", "审核推荐",
            "资金管理"]
MATERIALS = ["申报书", "合作协议", "承诺书", "推荐函", "自筹经费证明", "财务审计报告", "知识产权证明", "成员单位名单"]


def deadline(year: int) -> str:
    return f"{year}年3月31日"


def _sentence(rng: random.Random) -> str:
    return f"{rng.choice(ACTORS)}{rng.choice(MODALS)}{rng.choice(ACTIONS)}，{rng.choice(TAILS)}。"


def _deadline_items(year: int) -> list[tuple[str, list[str]]]:
    return [
        ("网上申报", [f"申报系统开放时间为{year - 1}年12月1日至{deadline(year)}17:00，{year}年度申报截止时间为"
                      f"{deadline(year)}，逾期系统自动关闭，不予受理。"]),
        ("纸质材料报送", [f"纸质材料于{year}年4月10日前报送至省科技厅政务服务窗口，以寄出邮戳日期为准。"]),
        ("推荐单位审核", [f"推荐单位应于{year}年4月15日前完成审核并在系统中提交推荐意见。"]),
    ]


def notice_docx(pages: int = 20, year: int = 2027, seed: int = 1) -> tuple[bytes, int]:
    """A notice of about ``pages`` A4 pages; returns (bytes, characters of text)."""
    import docx

    rng = random.Random(seed)
    d = docx.Document()
    d.add_paragraph(f"云南省科学技术厅关于组织申报{year}年度云南省创新联合体的通知")
    d.add_paragraph("各州（市）科技局，省直有关部门，各有关单位：")
    d.add_paragraph("为贯彻落实《云南省创新联合体建设管理工作方案（试行）》，加快构建以企业为主体、市场为导向、"
                    f"产学研用深度融合的技术创新体系，现将{year}年度创新联合体申报有关事项通知如下。")
    chars = page = 0
    target = pages * PAGE_CHARS

    def para(text: str) -> None:
        nonlocal chars, page
        d.add_paragraph(text)
        chars += len(text)
        page += len(text)
        if page >= PAGE_CHARS:
            d.add_page_break()
            page = 0

    per_section = max(1, target // len(SECTIONS))
    for s_no, (title, lead) in enumerate(SECTIONS, 1):
        start = chars
        para(f"{CN[s_no - 1] if s_no <= 10 else '十' + CN[s_no - 11]}、{title}")
        if lead:
            para(f"{lead}。")
        if title == "申报时间":
            for sub, (head, lines) in enumerate(_deadline_items(year), 1):
                para(f"（{CN[sub - 1]}）{head}。{lines[0]}")
            continue
        sub = 0
        while chars - start < per_section and sub < 10:
            sub += 1
            para(f"（{CN[sub - 1]}）{SUBHEADS[(sub + s_no) % len(SUBHEADS)]}。{_sentence(rng)}")
            for item in range(1, rng.randint(2, 4) + 1):
                amount = rng.choice([100, 200, 300, 500, 800, 1000])
                extra = f"单个创新联合体支持额度不超过{amount}万元。" if title == "支持方式和额度" and item == 1 else ""
                para(f"{item}. {_sentence(rng)}{extra}{_sentence(rng)}")
                if rng.random() < 0.5:
                    para(f"（1）{_sentence(rng)}")
                    para(f"（2）{_sentence(rng)}")
        table = d.add_table(rows=1 + 3, cols=3)
        for c, value in enumerate(["序号", "材料名称", "份数"]):
            table.cell(0, c).text = value
        for r, name in enumerate(rng.sample(MATERIALS, 3), 1):
            for c, value in enumerate([str(r), name, str(rng.randint(1, 3))]):
                table.cell(r, c).text = value
    para("本通知自印发之日起施行，有效期1年。")
    d.add_paragraph("云南省科学技术厅")
    d.add_paragraph(f"{year - 1}年11月20日")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue(), chars

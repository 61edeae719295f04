"""Documents for the documents tests: DOCX through python-docx, PDFs written by hand (a Type0 font with a
ToUnicode map, so Chinese text has a real text layer), scans, encrypted PDFs and impostors."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence

NOTICE_LINES = [
    "云南省科学技术厅关于组织申报",
    "2027年度云南省创新联合体的通知",
    "各州（市）科技局，各有关单位：",
    "为贯彻落实《云南省创新联合体建设管理工作方案（试行）》，现将2027年度创新联合体申报工作通知如下。",
    "一、申报条件",
    "（一）牵头单位",
    "1. 为云南省内注册的行业龙头企业。",
    "2. 建有省级及以上创新平台。",
    "（二）经费配套。企业按照不低于1:1的要求提供自筹经费。",
    "二、申报时间",
    "2027年3月1日至2027年4月30日，逾期不予受理。",
    "三、联系方式",
    "联系人：张三，电话：0871-12345678。",
    "本通知自印发之日起施行，有效期1年。",
    "云南省科学技术厅",
    "2027年2月20日",
]


def notice_text(lines: Sequence[str] = NOTICE_LINES) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


def docx_bytes(lines: Sequence[str] = NOTICE_LINES, table: Sequence[Sequence[str]] | None = None,
               table_after: int = 0) -> bytes:
    """A Word document with ``lines`` as paragraphs and, after paragraph ``table_after``, a table."""
    import docx

    d = docx.Document()
    for i, line in enumerate(lines):
        d.add_paragraph(line)
        if table is not None and i + 1 == table_after:
            t = d.add_table(rows=len(table), cols=len(table[0]))
            for r, row in enumerate(table):
                for c, value in enumerate(row):
                    t.cell(r, c).text = value
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _pdf(objects: list[bytes]) -> bytes:
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{n} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def _stream(data: bytes) -> bytes:
    return f"<< /Length {len(data)} >>\nstream\n".encode() + data + b"\nendstream"


def pdf_bytes(pages: Sequence[Sequence[str]]) -> bytes:
    """A PDF whose pages carry these lines as real text (CID = Unicode code point, mapped by ToUnicode)."""
    chars = sorted({ch for page in pages for line in page for ch in line})
    cmap_lines = [b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap",
                  b"/CMapName /Adobe-Identity-UCS def /CMapType 2 def",
                  b"1 begincodespacerange <0000> <FFFF> endcodespacerange"]
    for i in range(0, len(chars), 100):
        chunk = chars[i:i + 100]
        cmap_lines.append(f"{len(chunk)} beginbfchar".encode())
        cmap_lines += [f"<{ord(c):04X}> <{ord(c):04X}>".encode() for c in chunk]
        cmap_lines.append(b"endbfchar")
    cmap_lines.append(b"endcmap CMapName currentdict /CMap defineresource pop end end")
    n_pages = len(pages)
    # objects: 1 catalog, 2 pages, 3 font, 4 descendant, 5 tounicode, then (page, content) pairs
    kids = " ".join(f"{6 + 2 * i} 0 R" for i in range(n_pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode(),
        b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /Identity-H "
        b"/DescendantFonts [4 0 R] /ToUnicode 5 0 R >>",
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /STSong-Light /CIDSystemInfo "
        b"<< /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /DW 1000 >>",
        _stream(b"\n".join(cmap_lines)),
    ]
    for i, page in enumerate(pages):
        ops = [b"BT /F1 11 Tf 40 800 Td 16 TL"]
        for line in page:
            ops.append(b"<" + "".join(f"{ord(c):04X}" for c in line).encode() + b"> Tj T*")
        ops.append(b"ET")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> "
                       f"/Contents {7 + 2 * i} 0 R >>".encode())
        objects.append(_stream(b"\n".join(ops)))
    return _pdf(objects)


def scanned_pdf_bytes(n_pages: int = 2) -> bytes:
    """Pages with nothing but a (tiny) image: no text layer."""
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n_pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode()]
    for i in range(n_pages):
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {4 + 2 * i} 0 R >>".encode())
        objects.append(_stream(b"q 595 0 0 842 0 0 cm Q"))
    return _pdf(objects)


def encrypted_pdf_bytes(password: str = "secret") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes([NOTICE_LINES]))))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def zip_of_something_else() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("photos/a.txt", "not a word document")
        zf.writestr("readme.md", "# hello")
    return buf.getvalue()


def auto_numbered_docx() -> bytes:
    """A notice whose 一、 （一） 1. are Word's automatic list numbers (numbering.xml), not typed text."""
    import docx
    from docx.oxml import parse_xml

    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    d = docx.Document()
    numbering = d.part.numbering_part.element
    levels = [("chineseCounting", "%1、"), ("chineseCounting", "（%2）"), ("decimal", "%3.")]
    lvl_xml = "".join(f'<w:lvl w:ilvl="{i}"><w:start w:val="1"/><w:numFmt w:val="{fmt}"/>'
                      f'<w:lvlText w:val="{text}"/></w:lvl>' for i, (fmt, text) in enumerate(levels))
    numbering.insert(0, parse_xml(f'<w:abstractNum {w} w:abstractNumId="90">{lvl_xml}</w:abstractNum>'))
    numbering.append(parse_xml(f'<w:num {w} w:numId="90"><w:abstractNumId w:val="90"/></w:num>'))

    def para(text: str, level: int | None = None) -> None:
        p = d.add_paragraph(text)
        if level is not None:
            p._p.get_or_add_pPr().append(parse_xml(
                f'<w:numPr {w}><w:ilvl w:val="{level}"/><w:numId w:val="90"/></w:numPr>'))

    para("关于组织申报2027年度云南省创新联合体的通知")
    para("各州（市）科技局：")
    para("申报条件", 0)
    para("牵头单位", 1)
    para("为云南省内注册的行业龙头企业。", 2)
    para("建有省级及以上创新平台。", 2)
    para("经费配套。企业按照不低于1:1的要求提供自筹经费。", 1)
    para("申报时间", 0)
    para("2027年3月1日至4月30日。")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()

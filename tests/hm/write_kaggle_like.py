#!/usr/bin/env python3
"""Writes H&M Kaggle-format CSVs with Python's csv module, a writer independent of ours.

Usage: write_kaggle_like.py OUT_DIR

Writes two file sets, each with articles.csv, customers.csv and transactions.csv:
  OUT_DIR/quote_all/      every field quoted, LF line ends, ages as floats ("49.0")
  OUT_DIR/minimal_crlf/   minimal quoting, CRLF line ends, a pandas-style unnamed index
                          column on articles, codes sometimes written as "1010016.0"
and OUT_DIR/expected.json with the values a reader must produce for every row, normalised
(ids as integers, empty as null, None and NONE as "NONE", ages as integers).
"""

import csv
import datetime
import json
import os
import random
import sys

ARTICLE_COLUMNS = [
    "article_id", "product_code", "prod_name", "product_type_no", "product_type_name",
    "product_group_name", "graphical_appearance_no", "graphical_appearance_name",
    "colour_group_code", "colour_group_name", "perceived_colour_value_id",
    "perceived_colour_value_name", "perceived_colour_master_id", "perceived_colour_master_name",
    "department_no", "department_name", "index_code", "index_name", "index_group_no",
    "index_group_name", "section_no", "section_name", "garment_group_no", "garment_group_name",
    "detail_desc",
]
ARTICLE_INT_COLUMNS = {
    "product_code", "product_type_no", "graphical_appearance_no", "colour_group_code",
    "perceived_colour_value_id", "perceived_colour_master_id", "department_no",
    "index_group_no", "section_no", "garment_group_no",
}
CUSTOMER_COLUMNS = ["customer_id", "FN", "Active", "club_member_status",
                    "fashion_news_frequency", "age", "postal_code"]
TRANSACTION_COLUMNS = ["t_dat", "customer_id", "article_id", "price", "sales_channel_id"]

# Text that needs quoting: commas, quotes, line breaks (both kinds), non-ASCII.
TRICKY_TEXT = [
    "Strap top",
    "Strap top, 2-pack",
    'Tank "Basic" top',
    'He said ""twice""',
    "Under-, Nightwear",
    "Jersey top with narrow shoulder straps.\nSecond line, with a comma.",
    "Windows line\r\nbreak",
    "Caf\u00e9 cr\u00e8me \u2013 long sleeve",
    " leading and trailing spaces ",
    "",
]
SECTIONS = ["Womens Everyday Basics", "Womens Lingerie", "Men Underwear", "Kids Girl"]


def hex64(rng):
    return "%064x" % rng.getrandbits(256)


def make_articles(rng, count):
    rows = []
    for i in range(count):
        article_id = rng.randint(100000000, 999999999)
        values = {
            "article_id": article_id,
            "product_code": article_id // 1000,
            "prod_name": TRICKY_TEXT[i % len(TRICKY_TEXT)] or "Plain",
            "product_type_no": rng.choice([-1, 253, 306, 272]),
            "product_type_name": rng.choice(["Vest top", "Bra", "Trousers"]),
            "product_group_name": "Garment Upper body",
            "graphical_appearance_no": rng.choice([-1, 1010016, 1010017]),
            "graphical_appearance_name": rng.choice(["Solid", "Stripe"]),
            "colour_group_code": rng.randint(-1, 93),
            "colour_group_name": rng.choice(["Black", "Off White", "Light Beige"]),
            "perceived_colour_value_id": rng.randint(-1, 7),
            "perceived_colour_value_name": "Dusty Light",
            "perceived_colour_master_id": rng.randint(-1, 20),
            "perceived_colour_master_name": "White",
            "department_no": rng.randint(1201, 9989),
            "department_name": rng.choice(TRICKY_TEXT[:5]),
            "index_code": rng.choice("ABCDEFGHIJ"),
            "index_name": "Lingeries/Tights",
            "index_group_no": rng.choice([1, 2, 3, 4, 26]),
            "index_group_name": "Ladieswear",
            "section_no": rng.randint(2, 97),
            "section_name": rng.choice(SECTIONS),
            "garment_group_no": rng.randint(1001, 1025),
            "garment_group_name": "Under-, Nightwear",
            "detail_desc": TRICKY_TEXT[(i * 7) % len(TRICKY_TEXT)],
        }
        rows.append(values)
    return rows


def make_customers(rng, count):
    news_spellings = [("NONE", "NONE"), ("None", "NONE"), ("Regularly", "Regularly"),
                      ("Monthly", "Monthly"), ("", None)]
    rows = []
    for _ in range(count):
        fn = rng.choice(["", "1.0", "1"])
        active = rng.choice(["", "1.0"])
        status = rng.choice(["ACTIVE", "PRE-CREATE", "LEFT CLUB", ""])
        news_text, news = rng.choice(news_spellings)
        age = rng.choice([None, rng.randint(16, 99)])
        rows.append({
            "written": {
                "customer_id": hex64(rng), "FN": fn, "Active": active,
                "club_member_status": status, "fashion_news_frequency": news_text,
                "age": age, "postal_code": hex64(rng),
            },
            "expected": {
                "fn": float(fn) if fn else None,
                "active": float(active) if active else None,
                "club_member_status": status or None,
                "fashion_news_frequency": news,
                "age": age,
            },
        })
    return rows


def make_transactions(rng, count, customers, articles):
    start = datetime.date(2018, 9, 20)
    rows = []
    for _ in range(count):
        rows.append({
            "t_dat": (start + datetime.timedelta(days=rng.randint(0, 733))).isoformat(),
            "customer_id": rng.choice(customers)["written"]["customer_id"],
            "article_id": rng.choice(articles)["article_id"],
            # Shortest round-trip repr, as pandas writes, or a rounded figure.
            "price": rng.choice([rng.uniform(0.0001, 0.6), round(rng.uniform(0.001, 0.6), 4)]),
            "sales_channel_id": rng.choice([1, 2]),
        })
    return rows


def article_id_text(article_id, rng):
    # Kaggle pads to 10 digits; re-saved files drop the leading zero.
    return "%010d" % article_id if rng.random() < 0.5 else str(article_id)


def write_set(directory, rng, articles, customers, transactions, float_ages, quoting,
              line_end, index_column, float_codes):
    os.makedirs(directory, exist_ok=True)

    def writer(name):
        f = open(os.path.join(directory, name), "w", newline="", encoding="utf-8")
        return f, csv.writer(f, quoting=quoting, lineterminator=line_end)

    f, w = writer("articles.csv")
    w.writerow(([""] if index_column else []) + ARTICLE_COLUMNS)
    for n, a in enumerate(articles):
        row = []
        for column in ARTICLE_COLUMNS:
            value = a[column]
            if column == "article_id":
                value = article_id_text(value, rng)
            elif column in ARTICLE_INT_COLUMNS and float_codes and rng.random() < 0.3:
                value = "%d.0" % value
            row.append(value)
        w.writerow(([n * 3] if index_column else []) + row)
    f.close()

    f, w = writer("customers.csv")
    w.writerow(CUSTOMER_COLUMNS)
    for c in customers:
        values = dict(c["written"])
        age = values["age"]
        values["age"] = "" if age is None else ("%.1f" % age if float_ages else str(age))
        w.writerow([values[column] for column in CUSTOMER_COLUMNS])
    f.close()

    f, w = writer("transactions.csv")
    w.writerow(TRANSACTION_COLUMNS)
    for t in transactions:
        w.writerow([t["t_dat"], t["customer_id"], article_id_text(t["article_id"], rng),
                    repr(t["price"]), t["sales_channel_id"]])
    f.close()


def expected_records(articles, customers, transactions):
    expected_customers = []
    for c in customers:
        record = {"customer_id": c["written"]["customer_id"],
                  "postal_code": c["written"]["postal_code"]}
        record.update(c["expected"])
        expected_customers.append(record)
    return {"articles": articles, "customers": expected_customers,
            "transactions": transactions}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    rng = random.Random(20200922)
    articles = make_articles(rng, 120)
    customers = make_customers(rng, 150)
    transactions = make_transactions(rng, 400, customers, articles)

    sets = {
        "quote_all": dict(float_ages=True, quoting=csv.QUOTE_ALL, line_end="\n",
                          index_column=False, float_codes=False),
        "minimal_crlf": dict(float_ages=False, quoting=csv.QUOTE_MINIMAL, line_end="\r\n",
                             index_column=True, float_codes=True),
    }
    for name, options in sets.items():
        write_set(os.path.join(out, name), rng, articles, customers, transactions, **options)

    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"sets": list(sets),
                   "records": expected_records(articles, customers, transactions)}, f)


if __name__ == "__main__":
    main()

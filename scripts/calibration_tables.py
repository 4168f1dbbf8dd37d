#!/usr/bin/env python3
"""Writes common/datagen/calibration_tables.{h,cpp} from the real H&M aggregates and samples.

The generator must run anywhere (`make demo` has no access to shared/), so the figures it is
calibrated to are compiled in. Run from the repository root after the real data changes:

    python3 scripts/calibration_tables.py [--data ../shared/data/hm-real] [--out common/datagen]

Standard library only. Article-level tables (product types x departments, colours, graphical
appearances, names, descriptions) come from the ~5,800 real article rows; their weights are
raked (iterative proportional fitting) to the whole-dataset shares in aggregates/, once to
article shares (what the catalogue looks like) and once to transaction shares (what sells).
"""

import argparse
import collections
import csv
import os
import sys

# Caps on how many real names and descriptions per product type go into the source, to keep
# the generated file a reasonable size (a few hundred KiB).
MAX_NAMES_PER_TYPE = 40
MAX_DESCS_PER_TYPE = 8
# Product groups with fewer real list-price observations than this use the overall ladder.
MIN_PRICE_OBSERVATIONS = 20
IPF_ROUNDS = 200


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_articles(data_dir):
    """Real article rows keyed by numeric article id (the two samples overlap)."""
    rows = {}
    for name, skip in (("articles_resaved_4903.csv", 1), ("articles_25col_1k.csv", 0)):
        with open(os.path.join(data_dir, name), newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader)[skip:]
            for raw in reader:
                row = dict(zip(header, raw[skip:]))
                row = {k: v.strip() for k, v in row.items()}
                rows[int(row["article_id"])] = row
    return [rows[k] for k in sorted(rows)]


def shares(rows, key, value="share"):
    return {r[key]: float(r[value]) for r in rows}


def rake(weights, groupings, rounds=IPF_ROUNDS):
    """Iterative proportional fitting: scales `weights` (dict key -> w) so that for every
    (key_fn, target) in `groupings` the weight share of each group matches target[group].
    Groups absent from a target keep their share of the mass that target leaves."""
    w = dict(weights)
    for _ in range(rounds):
        for key_fn, target in groupings:
            total = sum(w.values())
            by_group = collections.defaultdict(float)
            for k, v in w.items():
                by_group[key_fn(k)] += v
            present = {g: t for g, t in target.items() if by_group.get(g, 0) > 0}
            norm = sum(present.values())
            for k in w:
                g = key_fn(k)
                if g in present:
                    w[k] *= (present[g] / norm) * total / by_group[g]
    total = sum(w.values())
    return {k: v / total for k, v in w.items()}


def c_string(s):
    out = ['"']
    for ch in s:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append("\\x%02x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def fmt(x):
    return repr(float(x))


class Source:
    """Accumulates the .h and .cpp text of one array at a time."""

    def __init__(self):
        self.h = []
        self.cpp = []

    def array(self, ctype, name, items, comment):
        self.h.append("// %s\nextern const std::array<%s, %d> %s;\n" % (comment, ctype, len(items), name))
        self.cpp.append("const std::array<%s, %d> %s = {{\n" % (ctype, len(items), name))
        if all(isinstance(item, str) and not item.startswith('"') for item in items):
            # Plain numbers: ten to a line.
            for i in range(0, len(items), 10):
                self.cpp.append("    %s,\n" % ", ".join(items[i:i + 10]))
        else:
            for item in items:
                self.cpp.append("    {%s},\n" % ", ".join(item) if isinstance(item, tuple) else "    %s,\n" % item)
        self.cpp.append("}};\n\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/hm-real")
    parser.add_argument("--out", default="common/datagen")
    args = parser.parse_args()
    agg = os.path.join(args.data, "aggregates")

    summary = {r["metric"]: r["value"] for r in read_csv(os.path.join(agg, "summary.csv"))}
    ig_art = shares(read_csv(os.path.join(agg, "index_group_metrics.csv")), "index_group_name")
    ig_tx = shares(read_csv(os.path.join(agg, "transaction_index_group_metrics.csv")), "index_group_name")
    pg_art = shares(read_csv(os.path.join(agg, "product_group_metrics.csv")), "product_group_name")
    pg_tx = shares(read_csv(os.path.join(agg, "transaction_product_group_metrics.csv")), "product_group_name")
    pt_art = shares(read_csv(os.path.join(agg, "product_type_metrics.csv")), "product_type_name")
    pt_tx = shares(read_csv(os.path.join(agg, "transaction_product_type_metrics.csv")), "product_type_name")
    sec_art = shares(read_csv(os.path.join(agg, "section_metrics.csv")), "section_name")
    col_art = shares(read_csv(os.path.join(agg, "color_metrics.csv")), "colour_group_name")
    col_tx = shares(read_csv(os.path.join(agg, "transaction_color_metrics.csv")), "colour_group_name")
    ages = read_csv(os.path.join(agg, "age_bucket_metrics.csv"))
    club = read_csv(os.path.join(agg, "customer_status_metrics.csv"))
    news = read_csv(os.path.join(agg, "fashion_news_metrics.csv"))
    channel = shares(read_csv(os.path.join(agg, "sales_channel_metrics.csv")), "sales_channel_id")
    daily = read_csv(os.path.join(agg, "transaction_daily_metrics.csv"))
    top = read_csv(os.path.join(agg, "top_article_transactions.csv"))

    articles = read_articles(args.data)
    by_id = {int(a["article_id"]): a for a in articles}

    # --- Departments: in H&M's catalogue a department fixes index, section and garment group.
    departments = {}
    for a in articles:
        departments.setdefault(int(a["department_no"]), a)
    dept_nos = sorted(departments)
    dept_index = {d: i for i, d in enumerate(dept_nos)}

    # --- Product types.
    types = {}
    for a in articles:
        types.setdefault(int(a["product_type_no"]), a)
    type_nos = sorted(types)
    type_index = {t: i for i, t in enumerate(type_nos)}

    # --- Templates (product type, department) with counts, raked to article and tx shares.
    counts = collections.Counter((int(a["product_type_no"]), int(a["department_no"])) for a in articles)
    t_type = lambda k: types[k[0]]["product_type_name"]
    t_group = lambda k: types[k[0]]["product_group_name"]
    t_ig = lambda k: departments[k[1]]["index_group_name"]
    t_sec = lambda k: departments[k[1]]["section_name"]
    article_w = rake(counts, [(t_type, pt_art), (t_group, pg_art), (t_sec, sec_art), (t_ig, ig_art)])
    tx_w = rake(article_w, [(t_type, pt_tx), (t_group, pg_tx), (t_ig, ig_tx)])
    templates = sorted(counts)
    for label, weights, groupings in (
            ("article", article_w, [("product type", t_type, pt_art), ("index group", t_ig, ig_art),
                                    ("section", t_sec, sec_art)]),
            ("transaction", tx_w, [("product type", t_type, pt_tx), ("index group", t_ig, ig_tx),
                                   ("product group", t_group, pg_tx)])):
        for name, key_fn, target in groupings:
            got = collections.defaultdict(float)
            for k, w in weights.items():
                got[key_fn(k)] += w
            covered = sum(t for g, t in target.items() if g in got)
            worst = max(abs(got[g] - t / covered) for g, t in target.items() if g in got)
            print("%s shares by %s: real shares covered %.4f, largest deviation %.5f"
                  % (label, name, covered, worst), file=sys.stderr)

    # --- Colours: (colour group, perceived value, perceived master) combinations.
    colour_counts = collections.Counter(
        (int(a["colour_group_code"]), a["colour_group_name"], int(a["perceived_colour_value_id"]),
         a["perceived_colour_value_name"], int(a["perceived_colour_master_id"]),
         a["perceived_colour_master_name"]) for a in articles)
    colour_w = rake(colour_counts, [(lambda k: k[1], col_art)])
    colours = sorted(colour_counts)

    # --- Graphical appearance by product group.
    appearance_counts = collections.Counter(
        (a["product_group_name"], int(a["graphical_appearance_no"]), a["graphical_appearance_name"])
        for a in articles)
    appearances = sorted(appearance_counts)

    # --- Names and descriptions per product type (most frequent first, then alphabetical).
    names, descs = [], []
    name_ranges, desc_ranges = {}, {}
    for t in type_nos:
        of_type = [a for a in articles if int(a["product_type_no"]) == t]
        nc = collections.Counter(a["prod_name"] for a in of_type if a["prod_name"])
        chosen = sorted(nc, key=lambda n: (-nc[n], n))[:MAX_NAMES_PER_TYPE]
        name_ranges[t] = (len(names), len(chosen))
        names.extend(chosen)
        dc = collections.Counter(a["detail_desc"] for a in of_type if a["detail_desc"])
        chosen = sorted(dc, key=lambda n: (-dc[n], n))[:MAX_DESCS_PER_TYPE]
        desc_ranges[t] = (len(descs), len(chosen))
        descs.extend(chosen)

    # --- List prices (integer k of price = k / 59000) by product group, from real baskets.
    group_prices = collections.defaultdict(collections.Counter)
    sessions = collections.Counter()
    session_rows = collections.defaultdict(list)
    with open(os.path.join(args.data, "transactions_resaved_10k.csv"), newline="") as f:
        for t in csv.DictReader(f):
            k = round(float(t["price"]) * 59000)
            article = by_id.get(int(t["article_id"]))
            if article is not None and k % 100 == 99:
                group_prices[article["product_group_name"]][k] += 1
                group_prices[""][k] += 1
            key = (t["t_dat"], t["customer_id"])
            sessions[key] += 1
            session_rows[key].append(t["article_id"])
    basket_sizes = collections.Counter(sessions.values())
    duplicate_rows = sum(len(v) - len(set(v)) for v in session_rows.values())
    price_groups = sorted(g for g, c in group_prices.items()
                          if sum(c.values()) >= MIN_PRICE_OBSERVATIONS)

    # --- Write.
    src = Source()
    src.array("AgeBucket", "kAgeBuckets",
              [(c_string(r["age_bucket"]), fmt(r["share"])) for r in ages],
              "Customers by age bucket (\"unknown\": age missing).")
    src.array("NamedShare", "kClubMemberStatus",
              [(c_string("" if r["club_member_status"] == "Unknown" else r["club_member_status"]),
                fmt(r["share"])) for r in club],
              "Customers by club_member_status (\"\": missing).")
    src.array("NamedShare", "kFashionNews",
              [(c_string("" if r["fashion_news_frequency"] == "Unknown" else r["fashion_news_frequency"]),
                fmt(r["share"])) for r in news],
              "Customers by fashion_news_frequency as spelt in the raw file (\"\": missing).")
    src.array("IndexGroup", "kIndexGroups",
              [(str(int(departments[d]["index_group_no"])), c_string(n), fmt(ig_art[n]), fmt(ig_tx[n]))
               for n in ig_art for d in [next(d for d in dept_nos if departments[d]["index_group_name"] == n)]],
              "Index groups with their share of articles and of transactions.")
    src.array("GroupShare", "kProductGroups",
              [(c_string(n), fmt(pg_art[n]), fmt(pg_tx.get(n, 0.0))) for n in pg_art],
              "Product groups (all of them, real names) with article and transaction shares.")
    src.array("GroupShare", "kProductTypeShares",
              [(c_string(n), fmt(pt_art[n]), fmt(pt_tx.get(n, 0.0))) for n in pt_art],
              "Product types (all of them) with article and transaction shares.")
    src.array("GroupShare", "kColourShares",
              [(c_string(n), fmt(col_art[n]), fmt(col_tx.get(n, 0.0))) for n in col_art],
              "Colour groups (all of them) with article and transaction shares.")
    src.array("NamedShare", "kSectionShares",
              [(c_string(n), fmt(sec_art[n])) for n in sec_art],
              "Sections with their share of articles.")
    src.array("ProductType", "kProductTypes",
              [(str(t), c_string(types[t]["product_type_name"]), c_string(types[t]["product_group_name"]),
                str(name_ranges[t][0]), str(name_ranges[t][1]), str(desc_ranges[t][0]), str(desc_ranges[t][1]))
               for t in type_nos],
              "Real product types with the ranges of their names and descriptions.")
    src.array("Department", "kDepartments",
              [(str(d), c_string(departments[d]["department_name"]), c_string(departments[d]["index_code"]),
                c_string(departments[d]["index_name"]), str(int(departments[d]["index_group_no"])),
                c_string(departments[d]["index_group_name"]), str(int(departments[d]["section_no"])),
                c_string(departments[d]["section_name"]), str(int(departments[d]["garment_group_no"])),
                c_string(departments[d]["garment_group_name"])) for d in dept_nos],
              "Real departments: each fixes index, index group, section and garment group.")
    src.array("Template", "kTemplates",
              [(str(type_index[k[0]]), str(dept_index[k[1]]), fmt(article_w[k]), fmt(tx_w[k])) for k in templates],
              "Real (product type, department) pairs, weighted to article and transaction shares.")
    src.array("Colour", "kColours",
              [(str(k[0]), c_string(k[1]), str(k[2]), c_string(k[3]), str(k[4]), c_string(k[5]), fmt(colour_w[k]))
               for k in colours],
              "Real colour combinations weighted to the article share of their colour group.")
    src.array("Appearance", "kAppearances",
              [(c_string(k[0]), str(k[1]), c_string(k[2]), str(appearance_counts[k])) for k in appearances],
              "Graphical appearances by product group, with real article counts.")
    src.array("std::string_view", "kProductNames", [c_string(n) for n in names],
              "Real prod_name values, grouped by product type (see ProductType).")
    src.array("std::string_view", "kDescriptions", [c_string(d) for d in descs],
              "Real detail_desc values, grouped by product type (see ProductType).")
    src.array("ListPrice", "kListPrices",
              [(c_string(g), str(k), str(c)) for g in price_groups for k, c in sorted(group_prices[g].items())],
              "Real list prices (k of k/59000) by product group; group \"\" is all groups.")
    src.array("int32_t", "kBasketSizes",
              [str(basket_sizes.get(i, 0)) for i in range(1, max(basket_sizes) + 1)],
              "Real baskets (one customer, one day) by size: element i counts baskets of i+1 rows.")
    src.array("DailyPoint", "kDaily",
              [(str(int(r["transactions"])), fmt(r["avg_price"])) for r in daily],
              "Transactions and average price per day from kRealStartDate, every day.")
    src.array("int32_t", "kTopArticleTransactions", [str(int(r["transactions"])) for r in top],
              "Transactions of the 200 best-selling articles, best first.")

    header = """// Real H&M figures the generator is calibrated to. GENERATED by scripts/calibration_tables.py
// from ../shared/data/hm-real; do not edit. Compiled in so generation needs no data files.
// clang-format off
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace towerstream::datagen::calibration {

struct NamedShare {
  std::string_view name;
  double share;
};
struct AgeBucket {
  std::string_view name;  // "20_to_29", "60_plus", "under_20", "unknown"
  double share;
};
struct IndexGroup {
  int32_t no;
  std::string_view name;
  double article_share;
  double transaction_share;
};
struct GroupShare {
  std::string_view name;
  double article_share;
  double transaction_share;
};
struct ProductType {
  int32_t no;
  std::string_view name;
  std::string_view group;
  int32_t names_begin, names_count;  // into kProductNames
  int32_t descs_begin, descs_count;  // into kDescriptions
};
struct Department {
  int32_t no;
  std::string_view name;
  std::string_view index_code;
  std::string_view index_name;
  int32_t index_group_no;
  std::string_view index_group_name;
  int32_t section_no;
  std::string_view section_name;
  int32_t garment_group_no;
  std::string_view garment_group_name;
};
struct Template {
  int32_t product_type;  // index into kProductTypes
  int32_t department;    // index into kDepartments
  double article_weight;      // sums to 1 over templates
  double transaction_weight;  // sums to 1 over templates
};
struct Colour {
  int32_t code;
  std::string_view name;
  int32_t perceived_value_id;
  std::string_view perceived_value_name;
  int32_t perceived_master_id;
  std::string_view perceived_master_name;
  double article_weight;
};
struct Appearance {
  std::string_view product_group;
  int32_t no;
  std::string_view name;
  int32_t articles;
};
struct ListPrice {
  std::string_view product_group;
  int32_t k;
  int32_t observations;
};
struct DailyPoint {
  int32_t transactions;
  double avg_price;
};

inline constexpr std::string_view kRealStartDate = "%(start)s";
inline constexpr int64_t kRealArticles = %(articles)s;
inline constexpr int64_t kRealCustomers = %(customers)s;
inline constexpr int64_t kRealTransactions = %(transactions)s;
inline constexpr double kRealAveragePrice = %(avg_price)s;
// Share of transactions on sales channel 2 (online).
inline constexpr double kOnlineShare = %(online)s;
// Share of rows in real baskets that repeat an article already in the same basket.
inline constexpr double kBasketDuplicateRowShare = %(dup)s;

""" % {
        "start": daily[0]["date"], "articles": int(summary["articles"]),
        "customers": int(summary["customers"]), "transactions": int(summary["transactions"]),
        "avg_price": fmt(summary["avg_price"]), "online": fmt(channel["2"]),
        "dup": fmt(duplicate_rows / sum(sessions.values())),
    } + "".join(src.h) + "\n}  // namespace towerstream::datagen::calibration\n"

    cpp = """// GENERATED by scripts/calibration_tables.py from ../shared/data/hm-real; do not edit.
// clang-format off
#include "common/datagen/calibration_tables.h"

namespace towerstream::datagen::calibration {

""" + "".join(src.cpp) + "}  // namespace towerstream::datagen::calibration\n"

    with open(os.path.join(args.out, "calibration_tables.h"), "w", encoding="utf-8") as f:
        f.write(header)
    with open(os.path.join(args.out, "calibration_tables.cpp"), "w", encoding="utf-8") as f:
        f.write(cpp)
    print("wrote %d templates, %d departments, %d product types, %d colours, %d names, %d descriptions"
          % (len(templates), len(dept_nos), len(type_nos), len(colours), len(names), len(descs)),
          file=sys.stderr)


if __name__ == "__main__":
    main()

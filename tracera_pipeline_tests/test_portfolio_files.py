"""Hostile portfolio files: every bad row reported with its line and the fix, nothing
reshaped, nothing stored (issue 10 item 16)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracera_pipeline.cli import main
from tracera_pipeline.portfolio.loader import (
    PortfolioFileError,
    load_portfolios,
    parse_portfolio_file,
)
from tracera_pipeline.storage.items import resolve_item_ids

AK = "AK-47 | Redline (Field-Tested)"
AWP = "AWP | Asiimov (Field-Tested)"
HEADER = "portfolio,market_hash_name,quantity\n"


def _refused(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(PortfolioFileError) as error:
        parse_portfolio_file(path)
    return str(error.value)


def _json(entries: object) -> str:
    return json.dumps(entries, indent=1, ensure_ascii=False)


def _portfolio(name: str, *holdings: tuple[object, object], owner: object = None) -> dict:
    return {
        "name": name,
        "owner": owner,
        "holdings": [{"market_hash_name": n, "quantity": q} for n, q in holdings],
    }


CSV_CASES = {
    "duplicate row": (
        f'{HEADER}main,"{AK}",2\nmain,"{AWP}",1\nmain,"{AK}",3\n',
        f"h.csv:4: '{AK}' is already held by portfolio 'main' (line 2); give each item once",
    ),
    "trailing space": (
        f'{HEADER}main,"{AK} ",2\n',
        f"h.csv:2: market_hash_name '{AK} ' starts or ends with a space; remove it",
    ),
    "zero-width space": (
        f"{HEADER}main,AK-47\u200b | Redline (Field-Tested),2\n",
        "contains the invisible formatting character U+200B ZERO WIDTH SPACE at character 6;"
        " remove it",
    ),
    "right-to-left override": (
        f"{HEADER}main,\u202e{AK},2\n",
        "h.csv:2: market_hash_name '\\u202eAK-47 | Redline (Field-Tested)' contains the"
        " invisible formatting character U+202E RIGHT-TO-LEFT OVERRIDE at character 1",
    ),
    "no-break space": (
        f"{HEADER}main,AK-47\u00a0| Redline (Field-Tested),2\n",
        "contains the unusual space U+00A0 NO-BREAK SPACE at character 6",
    ),
    "NUL byte": (
        f"{HEADER}main,AK\x0047,2\n",
        "h.csv:2: market_hash_name 'AK\\x0047' contains the control character U+0000 at"
        " character 3; remove it",
    ),
    "int32 overflow": (
        f"{HEADER}main,AK,3000000000\n",
        "h.csv:2: quantity 3000000000 is more than the largest allowed, 2,147,483,647",
    ),
    "5,000-digit quantity": (
        f"{HEADER}main,AK,{'9' * 5000}\n",
        "h.csv:2: quantity 99999999999999999999… (5,000 digits) is more than the largest",
    ),
    "other script's digits": (f"{HEADER}main,AK,٣\n", "h.csv:2: quantity '٣' is not a whole"),
    "300,000-character name": (
        f"{HEADER}main,{'x' * 300_000},1\n",
        "h.csv:2: market_hash_name is 300,000 characters long, more than the 255 allowed",
    ),
    "unterminated quote": (
        f'{HEADER}main,AK,1\nmain,"AWP | Asiimov,2\nother,AK,1\n',
        "h.csv:3: a quoted field opens here and is never closed; close the quote",
    ),
    "too few fields": (
        f"{HEADER}main,AK\n",
        "h.csv:2: 2 field(s) where the header has 3; quote fields that contain commas",
    ),
    "two owners": (
        "portfolio,market_hash_name,quantity,owner\nmain,AK,1,ann\nmain,AWP,1,bob\n",
        "h.csv:3: owner 'bob' differs from 'ann' given for portfolio 'main' on line 2;",
    ),
}


@pytest.mark.parametrize("case", CSV_CASES)
def test_csv_problems_name_the_line_and_the_fix(tmp_path: Path, case: str) -> None:
    content, expected = CSV_CASES[case]
    message = _refused(tmp_path, "h.csv", content)
    assert expected in message
    assert "nothing was loaded" in message


JSON_CASES = {
    "same portfolio twice": (
        [_portfolio("main", (AK, 1)), _portfolio("main", (AWP, 2))],
        "h.json:12: portfolio 'main' is given again (first on line 2); merge the two into one",
    ),
    "object as owner": (
        [_portfolio("main", (AK, 1), owner={"name": "ann"})],
        "h.json:4: owner must be a text, not a JSON object; put it in double quotes",
    ),
    "overflowing quantity": (
        [_portfolio("main", (AK, 2**31))],
        "h.json:8: quantity 2147483648 is more than the largest allowed, 2,147,483,647",
    ),
    "quantity as string": (
        [_portfolio("main", (AK, "3"))],
        "h.json:8: quantity must be a whole JSON number, not the string '3'; e.g. 3",
    ),
    "quantity true": (
        [_portfolio("main", (AK, True))],
        "h.json:8: quantity must be a whole JSON number, not the JSON value true",
    ),
    "NUL in a name": (
        [_portfolio("main", ("AK\u0000", 1))],
        "h.json:7: market_hash_name 'AK\\x00' contains the control character U+0000",
    ),
    "unknown field": (
        [{"name": "main", "holdings": [{"market_hash_name": AK, "quantitiy": 1}]}],
        "h.json:7: unknown field 'quantitiy' in a holding; the fields are market_hash_name,"
        " quantity",
    ),
    "not a list": ({"name": "main"}, "h.json:1: expected a JSON list of portfolios, not a JSON"),
}


@pytest.mark.parametrize("case", JSON_CASES)
def test_json_problems_name_the_line_and_the_fix(tmp_path: Path, case: str) -> None:
    document, expected = JSON_CASES[case]
    assert expected in _refused(tmp_path, "h.json", _json(document))


def test_a_repeated_json_key_is_reported_not_overwritten(tmp_path: Path) -> None:
    text = '[{"name": "main", "holdings": [\n{"market_hash_name": "AK", "quantity": 1,'
    text += ' "quantity": 5}]}]'
    assert "h.json:2: field 'quantity' is given twice in this holding; keep one" in _refused(
        tmp_path, "h.json", text
    )


def test_every_bad_row_is_reported_and_a_flood_is_summarised(tmp_path: Path) -> None:
    lines = [f"p,item {i},{'x' if i % 2 else i + 1}" for i in range(200)]
    message = _refused(tmp_path, "h.csv", HEADER + "\n".join(lines) + "\n")
    assert message.startswith("h.csv: 100 problem(s), nothing was loaded;")
    assert "h.csv:3: quantity 'x'" in message and "h.csv:101: quantity 'x'" in message
    assert message.endswith("… and 50 more")


def test_a_byte_order_mark_is_accepted_and_bad_encodings_are_named(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"{HEADER}main,{AK},2\n".encode())
    (portfolio,) = parse_portfolio_file(path)
    assert portfolio.holdings == {AK: 2}
    latin1 = f"{HEADER}main,Café,2\n".encode("latin-1")
    assert "h.csv: line 2: byte 0xe9 is not UTF-8; save it as UTF-8" in _refused(
        tmp_path, "h.csv", latin1
    )


def test_unknown_names_are_refused_and_nothing_is_stored(conn, tmp_path: Path) -> None:
    resolve_item_ids(conn, [AK])
    path = tmp_path / "h.csv"
    path.write_text(f"{HEADER}main,{AK},1\nmain,{AK.upper()},1\nmain,Invented Skin,1\n")
    with pytest.raises(PortfolioFileError) as refused:
        load_portfolios(conn, parse_portfolio_file(path), source="h.csv")
    message = str(refused.value)
    assert message.startswith("h.csv: 2 item name(s) are not in the catalogue, nothing was")
    assert f"h.csv:3: '{AK.upper()}' (did you mean '{AK}'?)" in message
    assert "h.csv:4: 'Invented Skin'" in message and "--add-unknown-items" in message
    assert conn.execute("SELECT count(*) FROM portfolios").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM items").fetchone() == (1,)


def test_adding_unknown_names_is_explicit_and_capped(conn, tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text(HEADER + "".join(f"big,new item {i},1\n" for i in range(30)))
    portfolios = parse_portfolio_file(path)
    with pytest.raises(PortfolioFileError, match="30 item names are not in the catalogue, more"):
        load_portfolios(conn, portfolios, add_unknown_items=True, max_new_items=29)
    assert conn.execute("SELECT count(*) FROM items").fetchone() == (0,)
    result = load_portfolios(conn, portfolios, add_unknown_items=True, max_new_items=30)
    assert (result.portfolios, result.holdings, result.items_added) == (1, 30, 30)


def test_cli_counts_what_it_stored_and_refuses_with_exit_1(
    monkeypatch, database_url, flavor, conn, tmp_path: Path, capsys
) -> None:
    monkeypatch.setenv("TRACERA_DATABASE_URL", database_url)
    monkeypatch.setenv("TRACERA_STORAGE_FLAVOR", flavor.value)
    twice = tmp_path / "twice.json"
    twice.write_text(_json([_portfolio("main", (AK, 1)), _portfolio("main", (AK, 1))]))
    assert main(["load-portfolios", str(twice)]) == 1
    assert "portfolio 'main' is given again" in capsys.readouterr().err
    good = tmp_path / "good.json"
    good.write_text(_json([_portfolio("a", (AK, 1)), _portfolio("b", (AK, 2), (AWP, 1))]))
    assert main(["load-portfolios", str(good)]) == 1
    assert "2 item name(s) are not in the catalogue" in capsys.readouterr().err
    assert main(["load-portfolios", str(good), "--add-unknown-items"]) == 0
    assert capsys.readouterr().out == (
        f"loaded 2 portfolio(s), 3 holding(s) from {good}; 2 new item(s) added to the catalogue\n"
    )
    assert conn.execute("SELECT count(*) FROM portfolio_holdings").fetchone() == (3,)

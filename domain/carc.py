"""Claim adjustment reason codes: what each one is - a denial (with its root-cause category), a contractual
(fee-schedule) allowance, patient cost share or another adjustment - in one table (docs/domain.md §3)."""
from __future__ import annotations

DENIAL, CONTRACTUAL, COST_SHARE, OTHER = "denial", "contractual", "cost share", "other"


def _kind(kind: str, category: str, codes: str) -> dict[str, tuple[str, str]]:
    return dict.fromkeys(codes.split(), (kind, category))


# Every CARC of the X12 list as ../shared/data/codes has it (and the newer or retired ones real files carry):
# code -> (kind, category). The category is the denial's root cause, or what the adjustment is.
CARCS: dict[str, tuple[str, str]] = {
    **_kind(COST_SHARE, "deductible", "1 66"),
    **_kind(COST_SHARE, "coinsurance", "2"),
    **_kind(COST_SHARE, "copay", "3"),
    **_kind(COST_SHARE, "patient liability", "142 201"),
    # paid by contract, fee schedule or regulation: the provider agreed to write these off, nobody refused
    # anything (42 is the retired "charges exceed our fee schedule", still on real 835s)
    **_kind(CONTRACTUAL, "fee schedule", "42 45 94 172 217 222 B10 W1"),
    **_kind(CONTRACTUAL, "negotiated discount", "44 131 144 161 169"),
    **_kind(CONTRACTUAL, "payment rules", "59 102 122 186"),
    **_kind(CONTRACTUAL, "capitation and withholds", "24 104 139"),
    **_kind(CONTRACTUAL, "institutional pricing", "69 70 74 75 76 90 91 118 132 232 A5"),
    **_kind(CONTRACTUAL, "legislated", "137 209 223 237 253"),
    # neither denied nor contractual: other payers' share, information, money that is not the claim's charge
    **_kind(OTHER, "prior payer", "23 229"),
    **_kind(OTHER, "payment timing", "A7"),
    **_kind(OTHER, "information", "89 100 101 103 105 121 130 134 143 187 192 193 195 205 225 235 A0 85 B4"),
    **_kind(DENIAL, "coding", "4 5 6 7 8 9 10 11 12 58 189 194 199 203 220 230 A8 B16 B22"),
    **_kind(DENIAL, "missing data", "16 107 110 125 129 135 B15"),
    **_kind(DENIAL, "duplicate", "18 B13"),
    **_kind(DENIAL, "eligibility/COB", "19 20 21 22 109 136 166 168 191 214 215 228 B9 B11"),
    **_kind(DENIAL, "eligibility/registration", "13 14 26 27 31 32 33 34 106 140 141 177 178 179 180 200 218 224 "
                                                "238 239"),
    **_kind(DENIAL, "timely filing", "29 138"),
    **_kind(DENIAL, "medical necessity", "40 50 167 216 219 B8"),
    **_kind(DENIAL, "coverage", "49 51 53 54 55 56 78 96 108 114 117 128 157 158 159 160 162 188 202 204 211 212 "
                                "233 A6 B1 B5"),
    **_kind(DENIAL, "coding/bundling", "60 97 190 231 234 236 B14 B20"),
    **_kind(DENIAL, "benefits", "35 119 149"),
    **_kind(DENIAL, "documentation", "112 116 148 150 151 152 153 154 163 164 173 174 175 176 226 227 252 B12"),
    **_kind(DENIAL, "code validity", "146 181 182"),
    **_kind(DENIAL, "authorization", "15 39 61 95 165 197 198 210 284 288"),
    **_kind(DENIAL, "provider data", "111 147 170 171 183 184 185 206 207 208 213 B7 B23"),
    **_kind(DENIAL, "network", "38 242 243"),
    **_kind(DENIAL, "other", "A1 115 133 155 221 W2"),
}
# A2 "contractual adjustment" was retired long ago but TR3 examples still carry it.
CARCS["A2"] = (CONTRACTUAL, "fee schedule")


def reason(carc: str) -> tuple[str, str]:
    """(kind, category) of a CARC; a code the table does not know is treated as a denial to look at."""
    return CARCS.get(carc, (DENIAL, "other"))


def is_denial(group: str, carc: str) -> bool:
    """A CO/OA/PI adjustment whose reason is a denial reason (not cost share, contract or information)."""
    return group != "PR" and reason(carc)[0] == DENIAL


def is_contractual(group: str, carc: str) -> bool:
    """A contractual allowance: group CO with a contractual (fee-schedule) reason - never a denial's dollars."""
    return group == "CO" and reason(carc)[0] == CONTRACTUAL


def denial_category(carc: str) -> str:
    """The root cause of a denial adjustment; a contractual reason denies only when it takes the whole charge
    (CO-45, domain/money.py), and then the contract's own category says why ("fee schedule")."""
    kind, category = reason(carc)
    return category if kind in (DENIAL, CONTRACTUAL) else "other"

"""My Kiss: the internal product-knowledge base, shown as an article panel on every ticket.

Agents search it by words ("lampu los merah", "tagihan naik") or browse a category. The stub
carries a small built-in knowledge base, in Indonesian like the real one, about the faults and
questions Tier 2 meets most.
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass

from .base import Adapter, Stub, require_choice, require_limit

CATEGORIES = ("gangguan-internet", "gangguan-telepon", "gangguan-iptv", "tagihan", "produk")


@dataclass(frozen=True, slots=True)
class KissArticle:
    article_id: str
    title: str
    category: str  # one of CATEGORIES
    summary: str
    path: str  # where the article lives in My Kiss


class MyKissAdapter(Adapter):
    app = "mykiss"
    display_name = "My Kiss"

    @abc.abstractmethod
    def search_articles(
        self, *, query: str = "", category: str | None = None, limit: int = 5
    ) -> list[KissArticle]:
        """Articles matching the words of ``query`` (best first) within ``category`` if given.

        With neither, the first ``limit`` articles of the knowledge base.
        """


def _entry(
    number: int, slug: str, category: str, *, title: str, summary: str, words: str
) -> tuple[KissArticle, str]:
    article = KissArticle(
        article_id=f"KISS-{number:04d}",
        title=title,
        category=category,
        summary=summary,
        path=f"/kiss/artikel/{slug}",
    )
    return article, words


# Each entry: the article and extra search words (synonyms and slang of customers and agents).
_KNOWLEDGE_BASE = (
    _entry(
        101,
        "lampu-los-merah",
        "gangguan-internet",
        title="Lampu LOS merah menyala pada ONT",
        summary=(
            "LOS merah berarti ONT tidak menerima sinyal optik. Pastikan kabel fiber tidak "
            "tertekuk atau lepas dari ONT; bila tetap merah, buat atau eskalasi tiket NOSSA "
            "untuk kunjungan teknisi."
        ),
        words="los merah kabel fiber optik putus mati total modem",
    ),
    _entry(
        102,
        "internet-lambat",
        "gangguan-internet",
        title="Internet lambat atau putus-putus",
        summary=(
            "Cek status dan redaman di Ibooster: redaman ONT di bawah -24 dBm menandakan "
            "masalah kabel. Cek profil bandwidth di Minitools dan jumlah perangkat terhubung; "
            "restart ONT lewat ACS bila perlu."
        ),
        words="lambat lemot lelet putus-putus redaman speed kecepatan paket",
    ),
    _entry(
        103,
        "pon-berkedip",
        "gangguan-internet",
        title="Internet mati, lampu PON berkedip",
        summary=(
            "PON berkedip berarti ONT belum teregistrasi ke OLT. Cek SN ONT dan port di "
            "Minitools; lakukan rebind bila ONT baru diganti."
        ),
        words="pon berkedip kedip registrasi ont ganti modem mati",
    ),
    _entry(
        104,
        "wifi-tidak-muncul",
        "gangguan-internet",
        title="WiFi tidak muncul atau SSID hilang",
        summary=(
            "Cek status WiFi perangkat di ACS. Bila WiFi dimatikan, aktifkan kembali dengan "
            "aksi reset WiFi dari ACS; sampaikan nama dan kata sandi WiFi ke pelanggan."
        ),
        words="wifi ssid hilang sinyal hp laptop",
    ),
    _entry(
        105,
        "lupa-password-wifi",
        "gangguan-internet",
        title="Lupa kata sandi WiFi",
        summary=(
            "Kata sandi WiFi dapat dilihat dan diganti melalui aplikasi MyIndiHome, atau "
            "diatur ulang oleh agen lewat ACS setelah verifikasi data pelanggan."
        ),
        words="password sandi wifi lupa ganti",
    ),
    _entry(
        106,
        "gangguan-massal",
        "gangguan-internet",
        title="Gangguan massal (Gamas)",
        summary=(
            "Bila banyak pelanggan satu STO, OLT atau ODP melapor bersamaan, hubungkan tiket "
            "ke insiden gamas yang aktif dan informasikan perkiraan waktu pemulihan."
        ),
        words="gamas massal banyak pelanggan area odp olt sto pemulihan",
    ),
    _entry(
        201,
        "tidak-ada-nada-panggil",
        "gangguan-telepon",
        title="Telepon rumah tidak ada nada panggil (no dial tone)",
        summary=(
            "Periksa kabel telepon ke port TEL1 pada ONT dan status registrasi SIP di ACS; "
            "bila tidak terdaftar, reboot ONT lewat ACS."
        ),
        words="telepon nada panggil dial tone voice sip",
    ),
    _entry(
        301,
        "iptv-layar-hitam",
        "gangguan-iptv",
        title="UseeTV tidak ada siaran atau layar hitam",
        summary=(
            "Pastikan STB terhubung ke port LAN IPTV pada ONT, restart STB, dan cek paket TV "
            "pelanggan di I-SISKA."
        ),
        words="iptv useetv tv stb siaran layar hitam blank",
    ),
    _entry(
        302,
        "kanal-tidak-tersedia",
        "gangguan-iptv",
        title="IPTV: kanal tidak tersedia",
        summary=(
            "Kanal di luar paket pelanggan tidak dapat ditonton. Cek penawaran minipack di "
            "Webcare dan tawarkan sesuai minat pelanggan."
        ),
        words="iptv useetv kanal channel minipack tidak tersedia",
    ),
    _entry(
        401,
        "tagihan-naik",
        "tagihan",
        title="Tagihan IndiHome naik atau tidak sesuai",
        summary=(
            "Cek rincian tagihan di E-payment: pemakaian telepon, add-on, dan PPN. Jelaskan "
            "komponen yang berubah dibanding bulan sebelumnya."
        ),
        words="tagihan naik mahal billing bayar rincian",
    ),
    _entry(
        402,
        "jatuh-tempo-isolir",
        "tagihan",
        title="Jatuh tempo dan isolir karena tunggakan",
        summary=(
            "Tagihan jatuh tempo tanggal 20 setiap bulan; layanan diisolir bila menunggak. "
            "Cek tunggakan di E-payment. Pelanggan menunggak tidak dapat mengambil penawaran."
        ),
        words="tunggakan isolir jatuh tempo bayar terlambat denda billing",
    ),
    _entry(
        501,
        "upgrade-kecepatan",
        "produk",
        title="Upgrade kecepatan internet",
        summary=(
            "Cek penawaran upgrade di Webcare, pastikan tidak ada tunggakan di E-payment, lalu "
            "input permintaan di Starclick."
        ),
        words="upgrade kecepatan speed paket naik mbps penawaran",
    ),
    _entry(
        502,
        "registrasi-myindihome",
        "produk",
        title="Registrasi aplikasi MyIndiHome",
        summary=(
            "Buat akun dengan e-mail pelanggan di Dashboard My Indihome, lalu daftarkan nomor "
            "layanan; pembatalan registrasi juga dilakukan di sana."
        ),
        words="myindihome aplikasi akun registrasi daftar email",
    ),
)

_STOPWORDS = frozenset({"di", "ke", "dan", "yang", "atau", "dari", "untuk", "pada", "the"})
_WORD_RE = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    return set(_WORD_RE.findall(text.lower())) - _STOPWORDS


# Words in the title count double: a title match is the better hit.
_INDEX = tuple(
    (article, _words(article.title), _words(f"{article.summary} {extra}"))
    for article, extra in _KNOWLEDGE_BASE
)


class MyKissStub(Stub, MyKissAdapter):
    """Ranks the built-in articles by how many query words they contain."""

    def search_articles(
        self, *, query: str = "", category: str | None = None, limit: int = 5
    ) -> list[KissArticle]:
        self._call("search_articles")
        require_limit(limit)
        if category is not None:
            require_choice("category", category, CATEGORIES)
        wanted = _words(query or "")
        scored = []
        for article, title_words, body_words in _INDEX:
            if category is not None and article.category != category:
                continue
            score = 2 * len(wanted & title_words) + len(wanted & body_words)
            if wanted and not score:
                continue
            scored.append((-score, article.article_id, article))
        return [article for _, _, article in sorted(scored)][:limit]

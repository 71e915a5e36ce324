"""The GSM 7-bit alphabet (3GPP TS 23.038): a text written only in it travels 160 characters to a
part; one character outside it makes the whole text UCS-2, 70 characters to a part."""

BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENSION = "\f^{}\\[~]|€"  # two septets each, through the escape
GSM7 = frozenset(BASIC + EXTENSION)


def is_gsm7(text: str) -> bool:
    """Whether the text can be sent in the GSM alphabet (else it goes as UCS-2)."""
    return all(ch in GSM7 for ch in text)

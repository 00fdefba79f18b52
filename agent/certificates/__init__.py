"""The charger's certificates: the root certificates a backend installs over OCPP (the
CSMS roots the link trusts, the manufacturer roots that vouch for firmware) and the
charger's own client certificate, said once in neutral terms for both protocols.

:mod:`.store` keeps them under ``<state_dir>/certificates/``; :mod:`.hashdata` computes
the OCPP certificate hash data both protocols identify a certificate by.
"""

from .hashdata import HashData, hash_data
from .store import (
    CHARGER_CERTIFICATE,
    CSMS_ROOT,
    MANUFACTURER_ROOT,
    ROOT_USES,
    CertificateStore,
    Deleted,
    Installed,
    InstallOutcome,
    installed_roots_exist,
)

__all__ = [
    "CHARGER_CERTIFICATE", "CSMS_ROOT", "MANUFACTURER_ROOT", "ROOT_USES", "CertificateStore", "Deleted",
    "HashData", "InstallOutcome", "Installed", "hash_data", "installed_roots_exist",
]

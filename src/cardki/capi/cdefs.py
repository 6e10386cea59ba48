"""The PKCS#11 C ABI as text, written once and used three ways.

``TYPES`` is valid both as C (the prelude of the compiled module) and as a cffi
``cdef`` (so Python sees the same struct layouts). ``FUNCTION_LISTS`` holds the
function-list tables, which only C code and the test harnesses need.
``PYTHON_EXPORTS`` lists the entry points implemented in Python (cffi
``embedding_api``, under :func:`python_symbol` names behind C wrappers);
``C_ONLY_EXPORTS`` the ones answered in C without Python.
``FUNCTION_LIST_ORDER`` is the slot order of CK_FUNCTION_LIST (2.40) followed by
the 3.0 additions, so the C tables and the tests are generated from one list.

Written from the PKCS#11 2.40 / 3.0 specifications (LP64 Unix, natural
alignment, no packing).
"""

from __future__ import annotations

TYPES = r"""
typedef unsigned char CK_BYTE;
typedef CK_BYTE CK_CHAR;
typedef CK_BYTE CK_UTF8CHAR;
typedef CK_BYTE CK_BBOOL;
typedef unsigned long CK_ULONG;
typedef long CK_LONG;
typedef CK_ULONG CK_FLAGS;
typedef CK_ULONG CK_RV;
typedef CK_ULONG CK_SLOT_ID;
typedef CK_ULONG CK_SESSION_HANDLE;
typedef CK_ULONG CK_OBJECT_HANDLE;
typedef CK_ULONG CK_USER_TYPE;
typedef CK_ULONG CK_STATE;
typedef CK_ULONG CK_MECHANISM_TYPE;
typedef CK_ULONG CK_ATTRIBUTE_TYPE;
typedef CK_ULONG CK_NOTIFICATION;
typedef void *CK_VOID_PTR;
typedef CK_BYTE *CK_BYTE_PTR;
typedef CK_UTF8CHAR *CK_UTF8CHAR_PTR;
typedef CK_ULONG *CK_ULONG_PTR;
typedef CK_SLOT_ID *CK_SLOT_ID_PTR;
typedef CK_SESSION_HANDLE *CK_SESSION_HANDLE_PTR;
typedef CK_OBJECT_HANDLE *CK_OBJECT_HANDLE_PTR;
typedef CK_MECHANISM_TYPE *CK_MECHANISM_TYPE_PTR;

typedef struct CK_VERSION { CK_BYTE major; CK_BYTE minor; } CK_VERSION;
typedef CK_VERSION *CK_VERSION_PTR;

typedef struct CK_INFO {
    CK_VERSION cryptokiVersion;
    CK_UTF8CHAR manufacturerID[32];
    CK_FLAGS flags;
    CK_UTF8CHAR libraryDescription[32];
    CK_VERSION libraryVersion;
} CK_INFO;
typedef CK_INFO *CK_INFO_PTR;

typedef struct CK_SLOT_INFO {
    CK_UTF8CHAR slotDescription[64];
    CK_UTF8CHAR manufacturerID[32];
    CK_FLAGS flags;
    CK_VERSION hardwareVersion;
    CK_VERSION firmwareVersion;
} CK_SLOT_INFO;
typedef CK_SLOT_INFO *CK_SLOT_INFO_PTR;

typedef struct CK_TOKEN_INFO {
    CK_UTF8CHAR label[32];
    CK_UTF8CHAR manufacturerID[32];
    CK_UTF8CHAR model[16];
    CK_CHAR serialNumber[16];
    CK_FLAGS flags;
    CK_ULONG ulMaxSessionCount;
    CK_ULONG ulSessionCount;
    CK_ULONG ulMaxRwSessionCount;
    CK_ULONG ulRwSessionCount;
    CK_ULONG ulMaxPinLen;
    CK_ULONG ulMinPinLen;
    CK_ULONG ulTotalPublicMemory;
    CK_ULONG ulFreePublicMemory;
    CK_ULONG ulTotalPrivateMemory;
    CK_ULONG ulFreePrivateMemory;
    CK_VERSION hardwareVersion;
    CK_VERSION firmwareVersion;
    CK_CHAR utcTime[16];
} CK_TOKEN_INFO;
typedef CK_TOKEN_INFO *CK_TOKEN_INFO_PTR;

typedef struct CK_SESSION_INFO {
    CK_SLOT_ID slotID;
    CK_STATE state;
    CK_FLAGS flags;
    CK_ULONG ulDeviceError;
} CK_SESSION_INFO;
typedef CK_SESSION_INFO *CK_SESSION_INFO_PTR;

typedef struct CK_ATTRIBUTE {
    CK_ATTRIBUTE_TYPE type;
    CK_VOID_PTR pValue;
    CK_ULONG ulValueLen;
} CK_ATTRIBUTE;
typedef CK_ATTRIBUTE *CK_ATTRIBUTE_PTR;

typedef struct CK_MECHANISM {
    CK_MECHANISM_TYPE mechanism;
    CK_VOID_PTR pParameter;
    CK_ULONG ulParameterLen;
} CK_MECHANISM;
typedef CK_MECHANISM *CK_MECHANISM_PTR;

typedef struct CK_MECHANISM_INFO {
    CK_ULONG ulMinKeySize;
    CK_ULONG ulMaxKeySize;
    CK_FLAGS flags;
} CK_MECHANISM_INFO;
typedef CK_MECHANISM_INFO *CK_MECHANISM_INFO_PTR;

typedef CK_RV (*CK_NOTIFY)(CK_SESSION_HANDLE hSession, CK_NOTIFICATION event, CK_VOID_PTR pApplication);
typedef CK_RV (*CK_CREATEMUTEX)(CK_VOID_PTR *ppMutex);
typedef CK_RV (*CK_DESTROYMUTEX)(CK_VOID_PTR pMutex);
typedef CK_RV (*CK_LOCKMUTEX)(CK_VOID_PTR pMutex);
typedef CK_RV (*CK_UNLOCKMUTEX)(CK_VOID_PTR pMutex);

typedef struct CK_C_INITIALIZE_ARGS {
    CK_CREATEMUTEX CreateMutex;
    CK_DESTROYMUTEX DestroyMutex;
    CK_LOCKMUTEX LockMutex;
    CK_UNLOCKMUTEX UnlockMutex;
    CK_FLAGS flags;
    CK_VOID_PTR pReserved;
} CK_C_INITIALIZE_ARGS;

typedef struct CK_RSA_PKCS_PSS_PARAMS {
    CK_MECHANISM_TYPE hashAlg;
    CK_ULONG mgf;
    CK_ULONG sLen;
} CK_RSA_PKCS_PSS_PARAMS;

typedef struct CK_RSA_PKCS_OAEP_PARAMS {
    CK_MECHANISM_TYPE hashAlg;
    CK_ULONG mgf;
    CK_ULONG source;
    CK_VOID_PTR pSourceData;
    CK_ULONG ulSourceDataLen;
} CK_RSA_PKCS_OAEP_PARAMS;

typedef struct CK_ECDH1_DERIVE_PARAMS {
    CK_ULONG kdf;
    CK_ULONG ulSharedDataLen;
    CK_BYTE_PTR pSharedData;
    CK_ULONG ulPublicDataLen;
    CK_BYTE_PTR pPublicData;
} CK_ECDH1_DERIVE_PARAMS;

typedef struct CK_EDDSA_PARAMS {
    CK_BBOOL phFlag;
    CK_ULONG ulContextDataLen;
    CK_BYTE_PTR pContextData;
} CK_EDDSA_PARAMS;

typedef struct CK_INTERFACE {
    CK_CHAR *pInterfaceName;
    CK_VOID_PTR pFunctionList;
    CK_FLAGS flags;
} CK_INTERFACE;
typedef CK_INTERFACE *CK_INTERFACE_PTR;
typedef CK_INTERFACE_PTR *CK_INTERFACE_PTR_PTR;
"""

# name -> C parameter list, for every PKCS#11 function (2.40 order, then 3.0).
_SIGNATURES: list[tuple[str, str]] = [
    ("C_Initialize", "CK_VOID_PTR pInitArgs"),
    ("C_Finalize", "CK_VOID_PTR pReserved"),
    ("C_GetInfo", "CK_INFO_PTR pInfo"),
    ("C_GetFunctionList", "void *ppFunctionList"),
    ("C_GetSlotList", "CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount"),
    ("C_GetSlotInfo", "CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo"),
    ("C_GetTokenInfo", "CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo"),
    ("C_GetMechanismList", "CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList, CK_ULONG_PTR pulCount"),
    ("C_GetMechanismInfo", "CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo"),
    ("C_InitToken", "CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pLabel"),
    ("C_InitPIN", "CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen"),
    ("C_SetPIN", "CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen, "
                 "CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen"),
    ("C_OpenSession", "CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication, CK_NOTIFY Notify, "
                      "CK_SESSION_HANDLE_PTR phSession"),
    ("C_CloseSession", "CK_SESSION_HANDLE hSession"),
    ("C_CloseAllSessions", "CK_SLOT_ID slotID"),
    ("C_GetSessionInfo", "CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo"),
    ("C_GetOperationState", "CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState, "
                            "CK_ULONG_PTR pulOperationStateLen"),
    ("C_SetOperationState", "CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState, "
                            "CK_ULONG ulOperationStateLen, CK_OBJECT_HANDLE hEncryptionKey, "
                            "CK_OBJECT_HANDLE hAuthenticationKey"),
    ("C_Login", "CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen"),
    ("C_Logout", "CK_SESSION_HANDLE hSession"),
    ("C_CreateObject", "CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, "
                       "CK_OBJECT_HANDLE_PTR phObject"),
    ("C_CopyObject", "CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate, "
                     "CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phNewObject"),
    ("C_DestroyObject", "CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject"),
    ("C_GetObjectSize", "CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize"),
    ("C_GetAttributeValue", "CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate, "
                            "CK_ULONG ulCount"),
    ("C_SetAttributeValue", "CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate, "
                            "CK_ULONG ulCount"),
    ("C_FindObjectsInit", "CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount"),
    ("C_FindObjects", "CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject, CK_ULONG ulMaxObjectCount, "
                      "CK_ULONG_PTR pulObjectCount"),
    ("C_FindObjectsFinal", "CK_SESSION_HANDLE hSession"),
]


def _crypto_family(verb: str, data_in: str, data_out: str) -> list[tuple[str, str]]:
    """Init / one-shot / Update / Final for encrypt and decrypt (both produce output per part)."""
    return [
        (f"C_{verb}Init", "CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey"),
        (f"C_{verb}", f"CK_SESSION_HANDLE hSession, CK_BYTE_PTR p{data_in}, CK_ULONG ul{data_in}Len, "
                      f"CK_BYTE_PTR p{data_out}, CK_ULONG_PTR pul{data_out}Len"),
        (f"C_{verb}Update", "CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen, "
                            "CK_BYTE_PTR pOutPart, CK_ULONG_PTR pulOutPartLen"),
        (f"C_{verb}Final", "CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastPart, CK_ULONG_PTR pulLastPartLen"),
    ]


_SIGNATURES += _crypto_family("Encrypt", "Data", "EncryptedData")
_SIGNATURES += _crypto_family("Decrypt", "EncryptedData", "Data")
_SIGNATURES += [
    ("C_DigestInit", "CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism"),
    ("C_Digest", "CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pDigest, "
                 "CK_ULONG_PTR pulDigestLen"),
    ("C_DigestUpdate", "CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen"),
    ("C_DigestKey", "CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey"),
    ("C_DigestFinal", "CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen"),
    ("C_SignInit", "CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey"),
    ("C_Sign", "CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, "
               "CK_ULONG_PTR pulSignatureLen"),
    ("C_SignUpdate", "CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen"),
    ("C_SignFinal", "CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen"),
    ("C_SignRecoverInit", "CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey"),
    ("C_SignRecover", "CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, "
                      "CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen"),
    ("C_VerifyInit", "CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey"),
    ("C_Verify", "CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, "
                 "CK_ULONG ulSignatureLen"),
    ("C_VerifyUpdate", "CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen"),
    ("C_VerifyFinal", "CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen"),
    ("C_VerifyRecoverInit", "CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey"),
    ("C_VerifyRecover", "CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen, "
                        "CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen"),
    ("C_DigestEncryptUpdate", "CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen, "
                              "CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen"),
    ("C_DecryptDigestUpdate", "CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart, "
                              "CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen"),
    ("C_SignEncryptUpdate", "CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen, "
                            "CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen"),
    ("C_DecryptVerifyUpdate", "CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart, "
                              "CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen"),
    ("C_GenerateKey", "CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_ATTRIBUTE_PTR pTemplate, "
                      "CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey"),
    ("C_GenerateKeyPair", "CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, "
                          "CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount, "
                          "CK_ATTRIBUTE_PTR pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount, "
                          "CK_OBJECT_HANDLE_PTR phPublicKey, CK_OBJECT_HANDLE_PTR phPrivateKey"),
    ("C_WrapKey", "CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hWrappingKey, "
                  "CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen"),
    ("C_UnwrapKey", "CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hUnwrappingKey, "
                    "CK_BYTE_PTR pWrappedKey, CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate, "
                    "CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey"),
    ("C_DeriveKey", "CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hBaseKey, "
                    "CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey"),
    ("C_SeedRandom", "CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen"),
    ("C_GenerateRandom", "CK_SESSION_HANDLE hSession, CK_BYTE_PTR RandomData, CK_ULONG ulRandomLen"),
    ("C_GetFunctionStatus", "CK_SESSION_HANDLE hSession"),
    ("C_CancelFunction", "CK_SESSION_HANDLE hSession"),
    ("C_WaitForSlotEvent", "CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved"),
]

# --- PKCS#11 3.0 additions (CK_FUNCTION_LIST_3_0 continues in this order) ---
_SIGNATURES_3_0: list[tuple[str, str]] = [
    ("C_GetInterfaceList", "CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount"),
    ("C_GetInterface", "CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion, "
                       "CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags"),
    ("C_LoginUser", "CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin, "
                    "CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pUsername, CK_ULONG ulUsernameLen"),
    ("C_SessionCancel", "CK_SESSION_HANDLE hSession, CK_FLAGS flags"),
]


def _message_family(verb: str, data_in: str, data_out: str) -> list[tuple[str, str]]:
    """The 3.0 message-based encrypt/decrypt functions."""
    head = "CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen"
    return [
        (f"C_Message{verb}Init", "CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey"),
        (f"C_{verb}Message", f"{head}, CK_BYTE_PTR pAssociatedData, CK_ULONG ulAssociatedDataLen, "
                             f"CK_BYTE_PTR p{data_in}, CK_ULONG ul{data_in}Len, CK_BYTE_PTR p{data_out}, "
                             f"CK_ULONG_PTR pul{data_out}Len"),
        (f"C_{verb}MessageBegin", f"{head}, CK_BYTE_PTR pAssociatedData, CK_ULONG ulAssociatedDataLen"),
        (f"C_{verb}MessageNext", f"{head}, CK_BYTE_PTR p{data_in}Part, CK_ULONG ul{data_in}PartLen, "
                                 f"CK_BYTE_PTR p{data_out}Part, CK_ULONG_PTR pul{data_out}PartLen, CK_FLAGS flags"),
        (f"C_Message{verb}Final", "CK_SESSION_HANDLE hSession"),
    ]


def _message_sign_family(verb: str, sig: str) -> list[tuple[str, str]]:
    """The 3.0 message-based sign/verify functions."""
    head = "CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen"
    return [
        (f"C_Message{verb}Init", "CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey"),
        (f"C_{verb}Message", f"{head}, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, {sig}"),
        (f"C_{verb}MessageBegin", head),
        (f"C_{verb}MessageNext", f"{head}, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, {sig}"),
        (f"C_Message{verb}Final", "CK_SESSION_HANDLE hSession"),
    ]


_SIGNATURES_3_0 += _message_family("Encrypt", "Plaintext", "Ciphertext")
_SIGNATURES_3_0 += _message_family("Decrypt", "Ciphertext", "Plaintext")
_SIGNATURES_3_0 += _message_sign_family("Sign", "CK_ULONG_PTR pulSignatureLen")
_SIGNATURES_3_0 += _message_sign_family("Verify", "CK_ULONG ulSignatureLen")

SIGNATURES: dict[str, str] = dict(_SIGNATURES + _SIGNATURES_3_0)
FUNCTION_LIST_ORDER: list[str] = [name for name, _ in _SIGNATURES]
FUNCTION_LIST_3_0_ORDER: list[str] = FUNCTION_LIST_ORDER + [name for name, _ in _SIGNATURES_3_0]

# Answered in C: the function-list getters need no interpreter, and the 3.0
# message API and C_SessionCancel have nothing behind them in a PIV card.
C_ONLY_EXPORTS: list[str] = ["C_GetFunctionList", "C_GetInterfaceList", "C_GetInterface", "C_SessionCancel"] + [
    name for name, _ in _SIGNATURES_3_0 if "Message" in name
]
PYTHON_EXPORTS: list[str] = [name for name in FUNCTION_LIST_3_0_ORDER if name not in C_ONLY_EXPORTS]

assert len(FUNCTION_LIST_ORDER) == 68, len(FUNCTION_LIST_ORDER)
assert len(FUNCTION_LIST_3_0_ORDER) == 92, len(FUNCTION_LIST_3_0_ORDER)


def prototype(name: str) -> str:
    """``CK_RV name(params);``: the C declaration of one entry point."""
    return f"CK_RV {name}({SIGNATURES[name]});"


def _struct(tag: str, names: list[str]) -> str:
    members = "\n".join(f"    CK_RV (*{name})({SIGNATURES[name]});" for name in names)
    return f"typedef struct {tag} {{\n    CK_VERSION version;\n{members}\n}} {tag};\n"


FUNCTION_LISTS = _struct("CK_FUNCTION_LIST", FUNCTION_LIST_ORDER) + _struct(
    "CK_FUNCTION_LIST_3_0", FUNCTION_LIST_3_0_ORDER)

#: cffi's ``extern "Python"`` functions carry this prefix. The exported ``C_*`` symbols are
#: C wrappers (build.py) that first make sure the interpreter could start, so that a
#: Python which cannot start means CKR_GENERAL_ERROR instead of the end of the host.
PYTHON_SYMBOL_PREFIX = "cardki_py_"


def python_symbol(name: str) -> str:
    """The cffi name behind the exported entry point ``name``."""
    return PYTHON_SYMBOL_PREFIX + name


def parameter_names(name: str) -> list[str]:
    """The parameter names of ``name``, in order (the last word of each declaration)."""
    return [declaration.split()[-1].lstrip("*") for declaration in SIGNATURES[name].split(",")]


PYTHON_EXPORT_DECLS = "\n".join(f"CK_RV {python_symbol(name)}({SIGNATURES[name]});" for name in PYTHON_EXPORTS)

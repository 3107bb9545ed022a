/* TEST-ONLY stand-in for bcryptprimitives.dll, which Wine 8.0 lacks. Never ship it: every
 * Windows 10 and 11 has the real one. Rust's standard library (1.78+) imports ProcessPrng
 * from it for random numbers (HashMap seeds); without it, nothing built by Rust loads under
 * Wine 8.0. This one fills the buffer from RtlGenRandom (advapi32's SystemFunction036), the
 * generator Rust used before. tests/windows/wine_env.sh installs it into the test Wine prefix
 * only (build/wine), never next to luna.dll. */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}

/* common/errors.c — see errors.h. */
#include "common/errors.h"

#include <string.h>

const char *drift_strerror(int rc)
{
    switch (rc) {
    case 0: return "success";
    case DRIFT_EBADMAGIC: return "bad magic number";
    case DRIFT_EVERSION: return "unsupported format version";
    case DRIFT_ECORRUPT: return "data is corrupt (checksum or structure mismatch)";
    case DRIFT_ECONFIG: return "invalid configuration";
    case DRIFT_ELOCKED: return "locked by another process";
    case DRIFT_ETRUNCATED: return "data truncated";
    case DRIFT_EPROTO: return "malformed message";
    case DRIFT_ETOOBIG: return "exceeds configured limit";
    case DRIFT_ECHAIN: return "hash chain broken";
    case DRIFT_ENOTFOUND: return "not found";
    case DRIFT_EFULL: return "no free slot";
    default: break;
    }
    if (rc < 0 && rc > -1000)
        return strerror(-rc);
    return "unknown error";
}

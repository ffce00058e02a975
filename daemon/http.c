#include "daemon/http.h"

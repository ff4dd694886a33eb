/* The shim's range-bookkeeping sequence counter (see mapseq.h). */
#include "config.h"

#include "mapseq.h"

_Atomic uint64_t cpr_mapseq;

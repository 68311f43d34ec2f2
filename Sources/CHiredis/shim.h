#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <stdlib.h>

#include "switchboard.h"

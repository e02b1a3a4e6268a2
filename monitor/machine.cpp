#include "monitor/machine_config.h"

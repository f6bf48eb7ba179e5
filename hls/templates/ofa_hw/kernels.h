// ofa-hw HLS kernel library (int8 OFA-MobileNetV3 layers). Include this one header.
#ifndef OFA_HW_KERNELS_H
#define OFA_HW_KERNELS_H

#include "add.h"
#include "avgpool.h"
#include "conv.h"
#include "dwconv.h"
#include "fc.h"
#include "hswish.h"
#include "mac.h"
#include "pwconv.h"
#include "requant.h"
#include "se.h"
#include "types.h"

#endif

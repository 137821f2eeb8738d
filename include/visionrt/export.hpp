// Symbol visibility: the library hides everything but what is marked VISIONRT_API.
#pragma once
#if defined(_WIN32)
#define VISIONRT_API
#else
#define VISIONRT_API __attribute__((visibility("default")))
#endif

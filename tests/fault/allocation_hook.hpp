// Host allocation fault injection for the whole process: record the sites
// (callers of operator new and aligned_alloc) a piece of work allocates
// from, then make the first allocation from one chosen site fail, as an
// exhausted heap would. Failing by site rather than by count keeps a sweep
// meaningful when worker threads allocate in varying order.
#pragma once
#include <cstdint>
#include <vector>

namespace allocation_hook {

// Records every distinct allocation site from now on, until stop_recording,
// which returns them (the order means nothing).
void start_recording();
std::vector<uintptr_t> stop_recording();

// The next allocation from `site` fails: operator new throws std::bad_alloc,
// the nothrow forms and aligned_alloc return null. Later ones succeed.
void arm(uintptr_t site);
// Stops failing; true when an allocation failed since arm.
bool disarm();

}  // namespace allocation_hook

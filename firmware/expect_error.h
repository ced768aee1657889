#pragma once
// Test helper: asserts that a call throws amber::Error with a given message.
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "amber/error.h"

namespace amber::x86::testing {

template <class F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing \"" << needle << "\"";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr(needle));
  }
}

}  // namespace amber::x86::testing

// Completes a stored, type-erased completion handler on its own associated executor, never
// inline.
//
// Two Boost 1.81 quirks shape this: asio::post cannot require blocking.never of an
// any_completion_executor, so the executor's execute() is used with a preference; and
// any_completion_handler's converting constructor also matches a non-const lvalue of its own
// type, and its move assignment goes through that lvalue path, wrapping itself recursively
// until the stack overflows. So stored handlers live in a std::unique_ptr (HandlerBox): they
// are constructed once, from the original handler, and only the pointer moves after that.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/execution/blocking.hpp>
#include <boost/asio/prefer.hpp>
#include <memory>
#include <tuple>
#include <utility>

namespace inference::detail {

template <class Handler>
using HandlerBox = std::unique_ptr<Handler>;

template <class Handler, class... Args>
void post_handler(HandlerBox<Handler> boxed, Args... args) {
  auto executor = boost::asio::get_associated_executor(*boxed);
  boost::asio::prefer(executor, boost::asio::execution::blocking.never)
      .execute([boxed = std::move(boxed), args = std::make_tuple(std::move(args)...)]() mutable {
        std::apply([&](auto&&... a) { std::move(*boxed)(std::move(a)...); }, std::move(args));
      });
}

}  // namespace inference::detail

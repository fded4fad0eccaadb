// privileges.hpp -- dropping root after binding: --user NAME and --group NAME
// (memcached's -u, nginx's user). Resolving the names and switching; it does
// not decide when (the caller does, after every privileged step).
#pragma once

#include <sys/types.h>
#include <string>

namespace okq::server {

struct Identity {
  uid_t uid;
  gid_t gid;
  std::string user;  // for messages
};

// Looks up `user` (and `group`, or the user's own group when empty).
// Throws std::invalid_argument: "unknown user NAME" / "unknown group NAME".
Identity lookup_identity(const std::string& user, const std::string& group);

// Sets the supplementary groups to none, then the gid, then the uid, and
// checks that root cannot be regained. Throws std::system_error
// ("cannot switch to user NAME: Operation not permitted").
void switch_to(const Identity& who);

}  // namespace okq::server

// privileges.cpp -- getpwnam_r / getgrnam_r, setgroups, setgid, setuid.
#include "okq/service/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace okq::server {

Identity lookup_identity(const std::string& user, const std::string& group) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found)
    throw std::invalid_argument("unknown user " + user);
  Identity who{pw.pw_uid, pw.pw_gid, user};
  if (!group.empty()) {
    ::group gr{};
    ::group* g = nullptr;
    if (::getgrnam_r(group.c_str(), &gr, buf.data(), buf.size(), &g) != 0 || !g)
      throw std::invalid_argument("unknown group " + group);
    who.gid = gr.gr_gid;
  }
  return who;
}

void switch_to(const Identity& who) {
  if (who.uid == ::getuid() && who.uid == ::geteuid() && who.gid == ::getgid()) return;  // already
  const auto fail = [&](int err) {
    throw std::system_error(err, std::generic_category(), "cannot switch to user " + who.user);
  };
  // Order matters: groups and gid while still root, the uid last.
  if (::setgroups(0, nullptr) != 0) fail(errno);
  if (::setgid(who.gid) != 0) fail(errno);
  if (::setuid(who.uid) != 0) fail(errno);
  // A process that could setuid(0) again has not dropped anything.
  if (who.uid != 0 && ::setuid(0) == 0) fail(EPERM);
}

}  // namespace okq::server

#include "common/secret_file.hpp"

#include <cstdio>
#include <vector>

namespace ferry {
namespace {

constexpr unsigned kGroupOrOthers = 077;

// "readable", "writable and executable": what group or others may do with the file.
std::string access_words(unsigned mode) {
  std::vector<const char*> words;
  if (mode & 044) words.push_back("readable");
  if (mode & 022) words.push_back("writable");
  if (mode & 011) words.push_back("executable");
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += i + 1 == words.size() ? " and " : ", ";
    out += words[i];
  }
  return out;
}

std::string octal(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

std::string chmod_advice(const std::string& what, const std::string& path, unsigned mode) {
  return what + " by group or others (mode " + octal(mode) + "); run: chmod 600 " + shell_word(path);
}

}  // namespace

std::string key_file_refusal(const std::string& path, unsigned mode, unsigned owner_uid, unsigned euid,
                             KeyOwner owner) {
  // The owner first: only the owner (or root) can chmod the file afterwards.
  if (owner == KeyOwner::Self && owner_uid != euid)
    return "owned by uid " + std::to_string(owner_uid) + ", not by uid " + std::to_string(euid) +
           " that runs this program; run: chown " + std::to_string(euid) + " " + shell_word(path);
  if (mode & kGroupOrOthers) return chmod_advice(access_words(mode), path, mode);
  return "";
}

std::string password_file_refusal(const std::string& path, unsigned mode) {
  if (!(mode & 044)) return "";
  return chmod_advice("holds a password and is readable", path, mode);
}

std::string shell_word(std::string_view s) {
  const bool safe = !s.empty() && s.find_first_not_of(
                                      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789/._-+,:@%=") == std::string_view::npos;
  if (safe) return std::string(s);
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace ferry

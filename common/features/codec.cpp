// Feature store keys and binary values: varints, zigzag integers, length-prefixed strings.
#include "common/features/codec.h"

#include <bit>
#include <cstring>
#include <optional>

namespace towerstream::features {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

void PutBigEndian(uint64_t value, int bytes, std::string* out) {
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

uint64_t GetBigEndian(const char* p, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | static_cast<uint8_t>(p[i]);
  return value;
}

void PutVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>(value | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

// Zigzag keeps small negative codes (Kaggle's -1 for "unknown") to one byte.
void PutSigned(int64_t value, std::string* out) {
  PutVarint((static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63), out);
}

void PutString(std::string_view value, std::string* out) {
  PutVarint(value.size(), out);
  out->append(value);
}

// Reads the fields of a value in order; the first failure sticks and names what was read.
class Reader {
 public:
  Reader(std::string_view data, std::string_view what) : data_(data), what_(what) {}

  Status CheckVersion() {
    if (data_.empty()) return Fail("empty value");
    const uint8_t version = static_cast<uint8_t>(data_[0]);
    data_.remove_prefix(1);
    if (version != kValueFormatVersion) {
      return Fail("format version " + std::to_string(version) +
                  " (supported: " + std::to_string(kValueFormatVersion) + ")");
    }
    return Status::Ok();
  }

  uint64_t Varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (data_.empty()) {
        error_ = true;
        return 0;
      }
      const uint8_t byte = static_cast<uint8_t>(data_[0]);
      data_.remove_prefix(1);
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    error_ = true;
    return 0;
  }

  int64_t Signed() {
    const uint64_t v = Varint();
    return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
  }

  int32_t Int32() {
    const int64_t v = Signed();
    if (v < INT32_MIN || v > INT32_MAX) error_ = true;
    return static_cast<int32_t>(v);
  }

  uint8_t Byte() {
    if (data_.empty()) {
      error_ = true;
      return 0;
    }
    const uint8_t b = static_cast<uint8_t>(data_[0]);
    data_.remove_prefix(1);
    return b;
  }

  float Float() {
    if (data_.size() < 4) {
      error_ = true;
      return 0;
    }
    const uint32_t bits = static_cast<uint32_t>(GetBigEndian(data_.data(), 4));
    data_.remove_prefix(4);
    return std::bit_cast<float>(bits);
  }

  std::string String() {
    const uint64_t size = Varint();
    if (error_ || size > data_.size()) {
      error_ = true;
      return {};
    }
    std::string value(data_.substr(0, size));
    data_.remove_prefix(size);
    return value;
  }

  // OK when every read succeeded and nothing is left over.
  Status Finish() {
    if (error_) return Fail("truncated or malformed value");
    if (!data_.empty()) return Fail(std::to_string(data_.size()) + " trailing bytes");
    return Status::Ok();
  }

 private:
  Status Fail(const std::string& problem) const {
    return Status::Corruption(std::string(what_) + " value: " + problem);
  }

  std::string_view data_;
  std::string_view what_;
  bool error_ = false;
};

void PutFloat(float value, std::string* out) {
  PutBigEndian(std::bit_cast<uint32_t>(value), 4, out);
}

// Presence bits of the customer's nullable fields.
enum CustomerField : uint8_t {
  kFn = 1 << 0,
  kActive = 1 << 1,
  kClubMemberStatus = 1 << 2,
  kFashionNews = 1 << 3,
  kAge = 1 << 4,
};

}  // namespace

Result<CustomerKey> CustomerKeyFromId(std::string_view customer_id) {
  CustomerKey key{};
  if (customer_id.size() != 2 * kCustomerKeyBytes) {
    return Status::InvalidArgument("customer id '" + std::string(customer_id.substr(0, 80)) +
                                   "' is not 64 lowercase hex characters");
  }
  for (size_t i = 0; i < kCustomerKeyBytes; ++i) {
    const int hi = HexDigit(customer_id[2 * i]);
    const int lo = HexDigit(customer_id[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return Status::InvalidArgument("customer id '" + std::string(customer_id) +
                                     "' is not 64 lowercase hex characters");
    }
    key[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return key;
}

std::string CustomerIdFromKey(const CustomerKey& key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(2 * kCustomerKeyBytes, '0');
  for (size_t i = 0; i < kCustomerKeyBytes; ++i) {
    id[2 * i] = kHex[key[i] >> 4];
    id[2 * i + 1] = kHex[key[i] & 0xf];
  }
  return id;
}

std::string ArticleKey(hm::ArticleId id) {
  std::string key;
  PutBigEndian(static_cast<uint64_t>(id), 8, &key);
  return key;
}

void EncodeHistoryKey(const CustomerKey& customer, StreamPosition position, char* out) {
  std::memcpy(out, customer.data(), kCustomerKeyBytes);
  const auto partition = static_cast<uint32_t>(position.partition);
  const auto offset = static_cast<uint64_t>(position.offset);
  for (int i = 0; i < 4; ++i)
    out[kCustomerKeyBytes + i] = static_cast<char>(partition >> (24 - 8 * i));
  for (int i = 0; i < 8; ++i)
    out[kCustomerKeyBytes + 4 + i] = static_cast<char>(offset >> (56 - 8 * i));
}

std::string HistoryKey(const CustomerKey& customer, StreamPosition position) {
  std::string key(kHistoryKeyBytes, '\0');
  EncodeHistoryKey(customer, position, key.data());
  return key;
}

std::string HistoryKeyUpperBound(const CustomerKey& customer) {
  std::string key(reinterpret_cast<const char*>(customer.data()), customer.size());
  key.append(kHistoryKeyBytes - kCustomerKeyBytes, '\xff');
  return key;
}

Status ParseHistoryKey(std::string_view key, CustomerKey* customer, StreamPosition* position) {
  if (key.size() != kHistoryKeyBytes) {
    return Status::Corruption("history key of " + std::to_string(key.size()) + " bytes (expected " +
                              std::to_string(kHistoryKeyBytes) + ")");
  }
  std::memcpy(customer->data(), key.data(), kCustomerKeyBytes);
  position->partition = static_cast<int32_t>(GetBigEndian(key.data() + kCustomerKeyBytes, 4));
  position->offset = static_cast<int64_t>(GetBigEndian(key.data() + kCustomerKeyBytes + 4, 8));
  return Status::Ok();
}

std::string EncodeArticleFeatures(const events::ArticleFeatures& f) {
  std::string out;
  out.reserve(64);
  out.push_back(static_cast<char>(kValueFormatVersion));
  PutSigned(f.product_code, &out);
  for (int32_t code : {f.product_type_no, f.graphical_appearance_no, f.colour_group_code,
                       f.perceived_colour_value_id, f.perceived_colour_master_id, f.department_no,
                       f.index_group_no, f.section_no, f.garment_group_no}) {
    PutSigned(code, &out);
  }
  PutString(f.product_group_name, &out);
  PutString(f.index_code, &out);
  return out;
}

Result<events::ArticleFeatures> DecodeArticleFeatures(std::string_view value) {
  Reader in(value, "article");
  TS_RETURN_IF_ERROR(in.CheckVersion());
  events::ArticleFeatures f;
  f.known = true;
  f.product_code = in.Signed();
  for (int32_t* code : {&f.product_type_no, &f.graphical_appearance_no, &f.colour_group_code,
                        &f.perceived_colour_value_id, &f.perceived_colour_master_id,
                        &f.department_no, &f.index_group_no, &f.section_no, &f.garment_group_no}) {
    *code = in.Int32();
  }
  f.product_group_name = in.String();
  f.index_code = in.String();
  TS_RETURN_IF_ERROR(in.Finish());
  return f;
}

std::string EncodeCustomerFeatures(const events::CustomerFeatures& f) {
  std::string out;
  out.reserve(96);
  out.push_back(static_cast<char>(kValueFormatVersion));
  const uint8_t present = (f.fn ? kFn : 0) | (f.active ? kActive : 0) |
                          (f.club_member_status ? kClubMemberStatus : 0) |
                          (f.fashion_news_frequency ? kFashionNews : 0) | (f.age ? kAge : 0);
  out.push_back(static_cast<char>(present));
  if (f.fn) PutFloat(*f.fn, &out);
  if (f.active) PutFloat(*f.active, &out);
  if (f.club_member_status) PutString(*f.club_member_status, &out);
  if (f.fashion_news_frequency) out.push_back(static_cast<char>(*f.fashion_news_frequency));
  if (f.age) PutSigned(*f.age, &out);
  PutString(f.postal_code, &out);
  return out;
}

Result<events::CustomerFeatures> DecodeCustomerFeatures(std::string_view value) {
  Reader in(value, "customer");
  TS_RETURN_IF_ERROR(in.CheckVersion());
  events::CustomerFeatures f;
  f.known = true;
  const uint8_t present = in.Byte();
  if (present & kFn) f.fn = in.Float();
  if (present & kActive) f.active = in.Float();
  if (present & kClubMemberStatus) f.club_member_status = in.String();
  if (present & kFashionNews) {
    const uint8_t news = in.Byte();
    if (news > static_cast<uint8_t>(hm::FashionNews::kMonthly)) {
      return Status::Corruption("customer value: fashion_news_frequency code " +
                                std::to_string(news));
    }
    f.fashion_news_frequency = static_cast<hm::FashionNews>(news);
  }
  if (present & kAge) f.age = in.Int32();
  f.postal_code = in.String();
  TS_RETURN_IF_ERROR(in.Finish());
  return f;
}

std::string EncodeVarint(uint64_t value) {
  std::string out;
  PutVarint(value, &out);
  return out;
}

size_t EncodeVarint(uint64_t value, char* out) {
  size_t n = 0;
  while (value >= 0x80) {
    out[n++] = static_cast<char>(value | 0x80);
    value >>= 7;
  }
  out[n++] = static_cast<char>(value);
  return n;
}

Result<uint64_t> DecodeVarint(std::string_view value) {
  Reader in(value, "varint");
  const uint64_t v = in.Varint();
  TS_RETURN_IF_ERROR(in.Finish());
  return v;
}

}  // namespace towerstream::features

#include "tools/loadgen/workload.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace ds::loadgen {
namespace {

KeySampler MakeSampler(KeyDistribution d, int64_t channels, uint64_t seed = 7) {
  KeySampler::Options o;
  o.distribution = d;
  o.channels = channels;
  o.seed = seed;
  return *KeySampler::Create(o);
}

TEST(KeySamplerTest, RoundRobinIsTheReferenceClientsOrder) {
  KeySampler s = MakeSampler(KeyDistribution::kRoundRobin, 20);
  for (uint64_t i = 0; i < 100; ++i) EXPECT_EQ(s.Next(i), i % 20 + 1) << i;
}

TEST(KeySamplerTest, UniformCoversEveryChannelEvenly) {
  KeySampler s = MakeSampler(KeyDistribution::kUniform, 10);
  std::vector<int> counts(11);
  for (int i = 0; i < 100000; ++i) {
    uint64_t ch = s.Next(i);
    ASSERT_GE(ch, 1u);
    ASSERT_LE(ch, 10u);
    ++counts[ch];
  }
  for (int ch = 1; ch <= 10; ++ch) EXPECT_NEAR(counts[ch], 10000, 500) << ch;
}

TEST(KeySamplerTest, ZipfMatchesItsDistribution) {
  const int64_t n = 100;
  const double s = 1.1;
  KeySampler::Options o;
  o.distribution = KeyDistribution::kZipf;
  o.channels = n;
  o.zipf_s = s;
  o.seed = 42;
  KeySampler sampler = *KeySampler::Create(o);
  const int draws = 200000;
  std::vector<int> counts(n + 1);
  for (int i = 0; i < draws; ++i) {
    uint64_t ch = sampler.Next(i);
    ASSERT_GE(ch, 1u);
    ASSERT_LE(ch, static_cast<uint64_t>(n));
    ++counts[ch];
  }
  double h = 0;
  for (int k = 1; k <= n; ++k) h += 1 / std::pow(k, s);
  // The head: P(k) = k^-s / H, within 3% relative for the top ranks.
  for (int k = 1; k <= 5; ++k) {
    const double expected = draws / std::pow(k, s) / h;
    EXPECT_NEAR(counts[k], expected, expected * 0.03) << "rank " << k;
  }
  EXPECT_GT(counts[1], counts[2]);
  EXPECT_GT(counts[2], counts[4]);
  EXPECT_GT(counts[4], counts[16]);
  EXPECT_GT(counts[n], 0);  // the tail is reachable
}

TEST(KeySamplerTest, SameSeedSameKeysDifferentSeedDifferentKeys) {
  KeySampler::Options o;
  o.distribution = KeyDistribution::kZipf;
  o.channels = 1000;
  o.seed = 3;
  KeySampler a = *KeySampler::Create(o);
  KeySampler b = *KeySampler::Create(o);
  o.seed = 4;
  KeySampler c = *KeySampler::Create(o);
  std::vector<uint64_t> va, vb, vc;
  for (int i = 0; i < 200; ++i) {
    va.push_back(a.Next(i));
    vb.push_back(b.Next(i));
    vc.push_back(c.Next(i));
  }
  EXPECT_EQ(va, vb);
  EXPECT_NE(va, vc);
}

TEST(KeySamplerTest, HotSendsItsFractionToTheHotChannel) {
  KeySampler::Options o;
  o.distribution = KeyDistribution::kHot;
  o.channels = 50;
  o.hot_channel = 7;
  o.hot_fraction = 0.8;
  o.seed = 9;
  KeySampler s = *KeySampler::Create(o);
  int hot = 0, other = 0;
  std::set<uint64_t> background;
  const int draws = 100000;
  for (int i = 0; i < draws; ++i) {
    uint64_t ch = s.Next(i);
    if (ch == 7) {
      ++hot;
    } else {
      ++other;
      background.insert(ch);
    }
  }
  // 0.8 + 0.2 / 50 of the draws land on the hot channel.
  EXPECT_NEAR(hot, draws * (0.8 + 0.2 / 50), draws * 0.01);
  EXPECT_EQ(background.size(), 49u);
}

TEST(KeySamplerTest, RejectsBadOptions) {
  KeySampler::Options o;
  o.channels = 0;
  EXPECT_FALSE(KeySampler::Create(o).ok());
  o.channels = 10;
  o.distribution = KeyDistribution::kZipf;
  o.zipf_s = 0;
  EXPECT_FALSE(KeySampler::Create(o).ok());
  o.distribution = KeyDistribution::kHot;
  o.hot_channel = 11;
  EXPECT_FALSE(KeySampler::Create(o).ok());
}

TEST(WorkloadTest, ReadOnlyGetMessagesWithLimit) {
  WorkloadOptions o;
  o.keys.channels = 3;
  o.limit = 50;
  Workload w = *Workload::Create(o);
  for (int i = 0; i < 6; ++i) {
    RequestSpec r = w.Next();
    EXPECT_EQ(r.kind, RequestKind::kGetMessages);
    EXPECT_EQ(r.channel_id, static_cast<uint64_t>(i % 3 + 1));
    EXPECT_EQ(r.limit, 50u);
  }
  EXPECT_EQ(w.issued(), 6u);
}

TEST(WorkloadTest, GetMessageUsesDiscoveredIdsElseTheReferenceConvention) {
  WorkloadOptions o;
  o.keys.channels = 3;
  o.read_method = ReadMethod::kMessage;
  o.message_ids = {111, 0};  // channel 1 known, 2 empty, 3 beyond the vector
  Workload w = *Workload::Create(o);
  EXPECT_EQ(w.Next().message_id, 111u);
  EXPECT_EQ(w.Next().message_id, 2000u);
  RequestSpec r = w.Next();
  EXPECT_EQ(r.kind, RequestKind::kGetMessage);
  EXPECT_EQ(r.message_id, 3000u);
}

TEST(WorkloadTest, WriteRatioAndUniqueNonces) {
  WorkloadOptions o;
  o.keys.channels = 10;
  o.keys.distribution = KeyDistribution::kUniform;
  o.write_ratio = 0.25;
  o.nonce_base = 1000;
  Workload w = *Workload::Create(o);
  std::set<uint64_t> nonces;
  int writes = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    RequestSpec r = w.Next();
    if (r.kind == RequestKind::kSendMessage) {
      ++writes;
      EXPECT_TRUE(nonces.insert(r.nonce).second) << "duplicate nonce " << r.nonce;
      EXPECT_NE(r.author_id, 0u);
      EXPECT_FALSE(r.content.empty());
    }
  }
  EXPECT_NEAR(writes, n * 0.25, n * 0.02);
}

TEST(WorkloadTest, AllWritesWithRatioOne) {
  WorkloadOptions o;
  o.write_ratio = 1;
  Workload w = *Workload::Create(o);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(w.Next().kind, RequestKind::kSendMessage);
}

}  // namespace
}  // namespace ds::loadgen

#include "runtime/cpu/blas_kernels.h"

#include <dlfcn.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gridserve::cpu {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

BlasInfo OpenBlas(const std::string& core) {
  BlasInfo info;
  info.library = "OpenBLAS";
  info.version = "0.3.21";
  info.core = core;
  return info;
}

CpuFeatures Avx512Bf16() {
  CpuFeatures cpu;
  cpu.sse3 = cpu.ssse3 = cpu.sse4_2 = cpu.avx = cpu.avx2 = cpu.fma = cpu.avx512 = true;
  cpu.avx512_bf16 = true;
  return cpu;
}

CpuFeatures Avx2() {
  CpuFeatures cpu;
  cpu.sse3 = cpu.ssse3 = cpu.sse4_2 = cpu.avx = cpu.avx2 = cpu.fma = true;
  return cpu;
}

TEST(BlasKernelsTest, GenericCoresAreThePreAvxOnes) {
  EXPECT_TRUE(IsGenericOpenBlasCore("Prescott"));
  EXPECT_TRUE(IsGenericOpenBlasCore("core2"));
  EXPECT_TRUE(IsGenericOpenBlasCore("Nehalem"));
  EXPECT_FALSE(IsGenericOpenBlasCore("Haswell"));
  EXPECT_FALSE(IsGenericOpenBlasCore("Zen"));
  EXPECT_FALSE(IsGenericOpenBlasCore("SkylakeX"));
  EXPECT_FALSE(IsGenericOpenBlasCore("Cooperlake"));
}

TEST(BlasKernelsTest, BetterCoresFollowTheCpuFeatures) {
  EXPECT_THAT(BetterOpenBlasCores(Avx512Bf16()),
              ElementsAre("Cooperlake", "SkylakeX", "Haswell", "Sandybridge"));
  CpuFeatures avx512 = Avx512Bf16();
  avx512.avx512_bf16 = false;
  EXPECT_THAT(BetterOpenBlasCores(avx512), ElementsAre("SkylakeX", "Haswell", "Sandybridge"));
  EXPECT_THAT(BetterOpenBlasCores(Avx2()), ElementsAre("Haswell", "Sandybridge"));
  CpuFeatures sse;
  sse.sse3 = sse.ssse3 = sse.sse4_2 = true;
  EXPECT_THAT(BetterOpenBlasCores(sse), IsEmpty());
  EXPECT_EQ(Avx512Bf16().Summary(), "AVX-512+BF16");
  EXPECT_EQ(Avx2().Summary(), "AVX2+FMA");
}

TEST(BlasKernelsTest, AmdCpusPreferZenKernels) {
  CpuFeatures amd = Avx512Bf16();
  amd.amd = true;
  EXPECT_THAT(BetterOpenBlasCores(amd),
              ElementsAre("Zen", "Cooperlake", "SkylakeX", "Haswell", "Sandybridge"));
  EXPECT_TRUE(ReplacesDeliberateCore("Cooperlake", amd));
  EXPECT_TRUE(ReplacesDeliberateCore("SkylakeX", amd));
  EXPECT_FALSE(ReplacesDeliberateCore("Zen", amd));
  EXPECT_FALSE(ReplacesDeliberateCore("Cooperlake", Avx512Bf16()));  // Intel keeps its choice

  // OpenBLAS 0.3.21 gives Zen 4 its Intel AVX-512 kernels: auto replaces them.
  BlasPlan plan = PlanBlasKernel("auto", {}, OpenBlas("Cooperlake"), amd);
  ASSERT_TRUE(plan.exec_with_coretype.has_value());
  EXPECT_EQ(*plan.exec_with_coretype, "Zen");
  EXPECT_EQ(plan.exec_with_selection, "auto:Cooperlake");
  // A generic fallback on an AMD CPU gets Zen too.
  plan = PlanBlasKernel("auto", {}, OpenBlas("Prescott"), amd);
  ASSERT_TRUE(plan.exec_with_coretype.has_value());
  EXPECT_EQ(*plan.exec_with_coretype, "Zen");
  // Without Zen kernels in the build, back to what OpenBLAS chose (no other core is tried).
  BlasEnvironment env;
  env.coretype = "Zen";
  env.selection = "auto:Cooperlake";
  plan = VerifyBlasKernel(env, OpenBlas("Cooperlake"), amd, true, "");
  EXPECT_FALSE(plan.exec_with_coretype.has_value());
  EXPECT_EQ(plan.selected_by, BlasSelection::kFallback);
  plan = VerifyBlasKernel(env, OpenBlas("Zen"), amd, true, "");
  EXPECT_FALSE(plan.exec_with_coretype.has_value());
  EXPECT_EQ(plan.selected_by, BlasSelection::kAuto);
  EXPECT_THAT(plan.detail, HasSubstr("Cooperlake"));
}

TEST(BlasKernelsTest, CoretypeRequestsAreNamesOnly) {
  EXPECT_TRUE(IsValidCoretypeRequest("auto"));
  EXPECT_TRUE(IsValidCoretypeRequest("openblas"));
  EXPECT_TRUE(IsValidCoretypeRequest("SkylakeX"));
  EXPECT_TRUE(IsValidCoretypeRequest("Opteron_SSE3"));
  EXPECT_FALSE(IsValidCoretypeRequest(""));
  EXPECT_FALSE(IsValidCoretypeRequest("Sky lake"));
  EXPECT_FALSE(IsValidCoretypeRequest("a:b"));
  EXPECT_FALSE(IsValidCoretypeRequest(std::string(33, 'x')));
}

TEST(BlasKernelsTest, AutoReplacesAGenericCoreWithTheBestOne) {
  BlasPlan plan = PlanBlasKernel("auto", {}, OpenBlas("Prescott"), Avx512Bf16());
  ASSERT_TRUE(plan.exec_with_coretype.has_value());
  EXPECT_EQ(*plan.exec_with_coretype, "Cooperlake");
  EXPECT_EQ(plan.exec_with_selection, "auto:Prescott");
  EXPECT_EQ(plan.selected_by, BlasSelection::kAuto);
}

TEST(BlasKernelsTest, AutoKeepsACoreOpenBlasChoseOnPurpose) {
  BlasPlan plan = PlanBlasKernel("auto", {}, OpenBlas("Zen"), Avx512Bf16());
  EXPECT_FALSE(plan.exec_with_coretype.has_value());
  EXPECT_EQ(plan.selected_by, BlasSelection::kLibrary);
  EXPECT_THAT(plan.detail, HasSubstr("Zen"));
}

TEST(BlasKernelsTest, AutoKeepsAGenericCoreWhenTheCpuHasNothingBetter) {
  CpuFeatures sse;
  sse.sse3 = true;
  BlasPlan plan = PlanBlasKernel("auto", {}, OpenBlas("Prescott"), sse);
  EXPECT_FALSE(plan.exec_with_coretype.has_value());
  EXPECT_EQ(plan.selected_by, BlasSelection::kLibrary);
}

TEST(BlasKernelsTest, AnExplicitCoretypeIsKept) {
  BlasEnvironment env;
  env.coretype = "Prescott";
  BlasPlan plan = PlanBlasKernel("auto", env, OpenBlas("Prescott"), Avx512Bf16());
  EXPECT_FALSE(plan.exec_with_coretype.has_value());
  EXPECT_EQ(plan.selected_by, BlasSelection::kEnvironment);
}

TEST(BlasKernelsTest, TheTestHookTreatsTheCoretypeAsDetected) {
  BlasEnvironment env;
  env.coretype = "Prescott";
  env.treat_coretype_as_detected = true;
  BlasPlan plan = PlanBlasKernel("auto", env, OpenBlas("Prescott"), Avx2());
  ASSERT_TRUE(plan.exec_with_coretype.has_value());
  EXPECT_EQ(*plan.exec_with_coretype, "Haswell");
  EXPECT_EQ(plan.exec_with_selection, "auto:Prescott");
}

TEST(BlasKernelsTest, OpenBlasRequestKeepsTheLibraryChoice) {
  BlasPlan plan = PlanBlasKernel("openblas", {}, OpenBlas("Prescott"), Avx512Bf16());
  EXPECT_FALSE(plan.exec_with_coretype.has_value());
  EXPECT_EQ(plan.selected_by, BlasSelection::kLibrary);
}

TEST(BlasKernelsTest, AFlagForcesItsCore) {
  BlasPlan plan = PlanBlasKernel("Haswell", {}, OpenBlas("Cooperlake"), Avx512Bf16());
  ASSERT_TRUE(plan.exec_with_coretype.has_value());
  EXPECT_EQ(*plan.exec_with_coretype, "Haswell");
  EXPECT_EQ(plan.exec_with_selection, "flag:Cooperlake");
  EXPECT_EQ(plan.selected_by, BlasSelection::kFlag);
  // Already running it: no exec.
  plan = PlanBlasKernel("haswell", {}, OpenBlas("Haswell"), Avx512Bf16());
  EXPECT_FALSE(plan.exec_with_coretype.has_value());
  EXPECT_EQ(plan.selected_by, BlasSelection::kFlag);
}

TEST(BlasKernelsTest, OtherLibrariesAreLeftAlone) {
  BlasInfo mkl;
  mkl.library = "MKL";
  BlasPlan plan = PlanBlasKernel("auto", {}, mkl, Avx512Bf16());
  EXPECT_FALSE(plan.exec_with_coretype.has_value());
  EXPECT_EQ(plan.selected_by, BlasSelection::kLibrary);
}

BlasEnvironment Chosen(const std::string& coretype, const std::string& selection) {
  BlasEnvironment env;
  env.coretype = coretype;
  env.selection = selection;
  return env;
}

TEST(BlasKernelsTest, VerifiedChoiceRuns) {
  BlasPlan plan = VerifyBlasKernel(Chosen("Cooperlake", "auto:Prescott"), OpenBlas("Cooperlake"),
                                   Avx512Bf16(), true, "");
  EXPECT_FALSE(plan.exec_with_coretype.has_value());
  EXPECT_EQ(plan.selected_by, BlasSelection::kAuto);
  EXPECT_THAT(plan.detail, HasSubstr("Prescott"));
}

TEST(BlasKernelsTest, MissingCoreTriesTheNextOne) {
  // This OpenBLAS build has no Cooperlake kernels: it loaded Prescott instead.
  BlasPlan plan = VerifyBlasKernel(Chosen("Cooperlake", "auto:Prescott"), OpenBlas("Prescott"),
                                   Avx512Bf16(), true, "");
  ASSERT_TRUE(plan.exec_with_coretype.has_value());
  EXPECT_EQ(*plan.exec_with_coretype, "SkylakeX");
  EXPECT_EQ(plan.exec_with_selection, "auto:Prescott");
}

TEST(BlasKernelsTest, FailedSelfTestFallsBackToTheDetectedCore) {
  BlasPlan plan = VerifyBlasKernel(Chosen("SkylakeX", "auto:Prescott"), OpenBlas("SkylakeX"),
                                   Avx512Bf16(), false, "sgemm NN element (0,0) is 7, expected 1");
  ASSERT_TRUE(plan.exec_with_coretype.has_value());
  EXPECT_EQ(*plan.exec_with_coretype, "Prescott");
  EXPECT_EQ(plan.selected_by, BlasSelection::kFallback);
  EXPECT_THAT(plan.exec_with_selection, HasSubstr("fallback:Prescott:"));
  EXPECT_THAT(plan.exec_with_selection, HasSubstr("self-test"));
  // The reason keeps to the marker's third field.
  EXPECT_EQ(plan.exec_with_selection.find(':', std::string("fallback:Prescott:").size()),
            std::string::npos);

  // The image exec'ed with it reports the fallback and the reason, and stops there.
  BlasPlan fallback = VerifyBlasKernel(Chosen("Prescott", plan.exec_with_selection),
                                       OpenBlas("Prescott"), Avx512Bf16(), true, "");
  EXPECT_FALSE(fallback.exec_with_coretype.has_value());
  EXPECT_EQ(fallback.selected_by, BlasSelection::kFallback);
  EXPECT_THAT(fallback.detail, HasSubstr("self-test"));
}

TEST(BlasKernelsTest, NoCoreLeftFallsBack) {
  BlasPlan plan = VerifyBlasKernel(Chosen("Sandybridge", "auto:Prescott"), OpenBlas("Prescott"),
                                   Avx512Bf16(), true, "");
  // Running Prescott already, which is what OpenBLAS detected: nothing to exec.
  EXPECT_FALSE(plan.exec_with_coretype.has_value());
  EXPECT_EQ(plan.selected_by, BlasSelection::kFallback);
  EXPECT_THAT(plan.detail, HasSubstr("no Sandybridge"));
}

TEST(BlasKernelsTest, UnknownFlagCoreFallsBack) {
  BlasPlan plan = VerifyBlasKernel(Chosen("NoSuchCore", "flag:Cooperlake"), OpenBlas("Cooperlake"),
                                   Avx512Bf16(), true, "");
  EXPECT_FALSE(plan.exec_with_coretype.has_value());
  EXPECT_EQ(plan.selected_by, BlasSelection::kFallback);
  EXPECT_THAT(plan.detail, HasSubstr("NoSuchCore"));
}

// The real library: libblas.so.3 is OpenBLAS on every machine set up by scripts/install-deps.sh.
class LoadedBlasTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_NE(dlopen("libblas.so.3", RTLD_NOW | RTLD_GLOBAL), nullptr);
  }
};

TEST_F(LoadedBlasTest, ProbeFindsOpenBlas) {
  BlasInfo info = ProbeBlas();
  EXPECT_EQ(info.library, "OpenBLAS");
  EXPECT_THAT(info.version, ::testing::MatchesRegex("[0-9]+\\.[0-9]+\\.[0-9]+"));
  EXPECT_FALSE(info.core.empty());
  EXPECT_GT(info.threads, 0);
  EXPECT_THAT(info.path, HasSubstr("blas"));
}

TEST_F(LoadedBlasTest, SelfTestPassesOnTheLoadedKernels) { EXPECT_EQ(BlasSelfTest(), ""); }

TEST(CpuFeaturesTest, DetectIsConsistent) {
  CpuFeatures cpu = CpuFeatures::Detect();
  EXPECT_FALSE(cpu.model_name.empty());
  if (cpu.avx512_bf16) EXPECT_TRUE(cpu.avx512);
  if (cpu.avx512) EXPECT_TRUE(cpu.avx2);
  if (cpu.avx2) EXPECT_TRUE(cpu.avx);
}

}  // namespace
}  // namespace gridserve::cpu

-- up
ALTER TABLE "posts_editors" RENAME TO "strata_del_ffc58c36d8ba";
-- down
ALTER TABLE "strata_del_ffc58c36d8ba" RENAME TO "posts_editors";
